"""Downsample a long series for charts, keeping the first/last point and each
bucket's extreme values so spikes stay visible."""


def downsample(steps, values, max_points=2000):
    n = len(values)
    if n <= max_points:
        return list(steps), list(values)
    buckets = max(1, (max_points - 2) // 2)
    size = (n - 2) / buckets
    keep = {0, n - 1}
    for b in range(buckets):
        lo, hi = 1 + int(b * size), 1 + int((b + 1) * size)
        if lo >= hi:
            continue
        chunk = range(lo, min(hi, n - 1))
        if not chunk:
            continue
        keep.add(min(chunk, key=values.__getitem__))
        keep.add(max(chunk, key=values.__getitem__))
    idx = sorted(keep)[:max_points]
    if idx[-1] != n - 1:
        idx[-1] = n - 1
    return [steps[i] for i in idx], [values[i] for i in idx]
