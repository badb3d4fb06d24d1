"""Import examples from a Hugging Face dataset, when the `datasets` package and the
hub are reachable; otherwise say so clearly."""
import importlib.util


class HubUnavailable(RuntimeError):
    """The hub (or the datasets package) cannot be used from this machine."""


OFFLINE_MESSAGE = (
    "The Hugging Face hub cannot be reached from this machine (offline){detail}. "
    "Download the data elsewhere and import it here as CSV (columns input,output) or JSONL."
)


def fetch_examples(dataset_id, config="", split="train", input_column="input", output_column="output",
                   limit=500):
    if importlib.util.find_spec("datasets") is None:
        raise HubUnavailable(OFFLINE_MESSAGE.format(detail=", and the `datasets` package is not installed"))
    from workers.engine.model_info import hub_down_reason  # torch-free

    why = hub_down_reason()  # one quick look, not the datasets library's retries (about 25 s offline)
    if why:
        raise HubUnavailable(OFFLINE_MESSAGE.format(detail=f" ({why})"))
    import datasets  # noqa: PLC0415 - optional dependency

    try:
        ds = datasets.load_dataset(dataset_id, config or None, split=split)
    except Exception as exc:  # network, auth, missing dataset
        raise HubUnavailable(OFFLINE_MESSAGE.format(detail=f" ({type(exc).__name__}: {str(exc)[:200]})")) from exc
    missing = [c for c in (input_column, output_column) if c not in ds.column_names]
    if missing:
        raise HubUnavailable(f"Columns {', '.join(missing)} are not in {dataset_id}; it has {', '.join(ds.column_names)}.")
    rows = []
    for row in ds.select(range(min(limit, len(ds)))):
        rows.append({"input": str(row[input_column]), "output": str(row[output_column])})
    return rows
