"""The lab app: tasks, experiments, runs, live progress and comparisons."""
