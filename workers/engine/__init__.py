"""The engine: ICL, SFT and IA2 on Hugging Face causal LMs, with metrics,
activation similarity, an experiment runner and a CLI. No Django import here."""
