"""Create a task, launch an experiment on the embedded model, wait for it, print the results.

    LAB_URL=http://127.0.0.1:8000 LAB_TOKEN=lab_... python docs/api_example.py

Needs only `requests`. Make the token at /account/tokens/ (or `manage.py api_token USER`).
"""
import os
import sys
import time

import requests

BASE = os.environ.get("LAB_URL", "http://127.0.0.1:8000").rstrip("/") + "/api"
api = requests.Session()
api.headers["Authorization"] = f"Bearer {os.environ['LAB_TOKEN']}"


def call(method, path, **kwargs):
    response = api.request(method, BASE + path, timeout=60, **kwargs)
    if response.status_code >= 400:  # every error is JSON naming the field and the fix
        sys.exit(f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.content else None


# 1. A task with its examples (words the embedded model knows; its format is "{x} ")
animals = ["a big wild cat", "my furry dog", "the hungry horse", "a small cow", "look at the sheep",
           "a wild goat", "the furry cat", "we like the dog"]
fruits = ["a ripe apple", "the sweet grape", "a juicy plum", "my small pear", "we like the ripe apple",
          "a big sweet plum", "the juicy pear", "look at the grape"]
examples = [{"input": x, "output": "yes"} for x in animals] + [{"input": x, "output": "no"} for x in fruits]
examples += [{"input": x, "output": y, "split": "eval"} for x, y in [
    ("i got a hungry horse", "yes"), ("a sweet apple", "no"), ("there is a cow", "yes"), ("the ripe plum", "no")]]
task = call("POST", "/tasks/", json={
    "name": f"animal or fruit (API example {time.strftime('%Y-%m-%d %H:%M:%S')})",
    "kind": "classification", "labels": ["yes", "no"], "input_template": "{x} ", "examples": examples})
print(f"task {task['id']}: {task['n_pool']} pool + {task['n_eval']} evaluation examples")

# 2. Launch ICL and SFT at N=2 with one seed (validated like the experiment form)
exp = call("POST", "/experiments/", json={
    "name": "API example", "model_name": "embedded", "train_task": task["id"], "methods": ["icl", "sft"],
    "n_values": [2], "seeds": 1, "eval_size": 4, "submit_key": os.urandom(16).hex()})
print(f"experiment {exp['id']}: {exp['runs']['total']} runs queued")

# 3. Wait until every run has finished
while not exp["finished"]:
    time.sleep(2)
    exp = call("GET", f"/experiments/{exp['id']}/")
    print("runs:", {state: n for state, n in exp["runs"].items() if n and state != "total"})
for run in call("GET", f"/experiments/{exp['id']}/runs/")["items"]:
    print(f"run {run['id']} {run['method']} N={run['n']} seed={run['seed']}: {run['state']} {run['error']}")

# 4. The results: mean over seeds per method and N (the page's results.json)
results = call("GET", f"/experiments/{exp['id']}/results/")
for row in results["summary"]:
    print(f"{row['method_label']:>8} N={row['n']} on {row['eval_task']}: "
          f"accuracy {row['accuracy']['mean']:.3f}, ECE {row['ece']['mean']:.3f}")
