"""W3 peer: the same conversion as `prefopt data convert --sampler popularity --negatives 19`,
written with Polars and NumPy, for a side-by-side timing in the `w3` criterion bench.

Usage: python3 w3_polars.py INTERACTIONS.parquet ITEMS.parquet OUTPUT_DIR SEED

Same protocol: per-user time order, leave-last-out split, at least 3 history items, history =
last 10 items, candidates = target + 19 negatives drawn with probability proportional to
(training count + 1) without replacement, never the target or a history item, shuffled;
rejected = the 19 negatives; prompt from the same template; snappy Parquet; then every file
is read back. (prefopt also excludes items seen before the 10-item window; the peer checks the
window only, which makes its job slightly easier.)
"""
import sys

import numpy as np
import polars as pl

HISTORY, MIN_HISTORY, NEGATIVES = 10, 3, 19
TEMPLATE = (
    "This user has interacted with {} in the past. Predict the next item this user will "
    "interact with. Choose the answer from the following {} titles: {}. Answer: "
)


def main(interactions_path, items_path, output, seed):
    rng = np.random.default_rng(int(seed))
    log = pl.read_parquet(interactions_path)
    items = pl.read_parquet(items_path)
    ids = items["item_id"].cast(pl.Utf8)
    dense = pl.DataFrame({"item_id": ids, "item": np.arange(len(ids), dtype=np.int64)})
    titles = items["title"].to_numpy()
    log = (
        log.with_columns(pl.col("item_id").cast(pl.Utf8))
        .join(dense, on="item_id", how="inner")
        .with_row_index("order")
        .sort(["user_id", "timestamp", "order"])
        .with_columns(
            pos=pl.int_range(pl.len()).over("user_id"),
            n=pl.len().over("user_id"),
        )
    )
    history = [pl.col("item").shift(k).over("user_id") for k in range(HISTORY, 0, -1)]
    log = log.with_columns(history=pl.concat_list(history).list.drop_nulls())
    counts = np.bincount(
        log.filter(pl.col("pos") < pl.col("n") - 2)["item"].to_numpy(), minlength=len(ids)
    )
    p = (counts + 1.0) / (counts + 1.0).sum()
    examples = log.filter(pl.col("pos") >= MIN_HISTORY)
    rows = examples.height
    target = examples["item"].to_numpy()
    hist = np.full((rows, HISTORY), -1, dtype=np.int64)
    lengths = examples["history"].list.len().to_numpy().astype(np.int64)
    flat = examples["history"].explode().to_numpy()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for k in range(HISTORY):
        has = lengths > k
        hist[has, HISTORY - lengths[has] + k] = flat[starts[has] + k]
    negatives = rng.choice(len(ids), size=(rows, NEGATIVES), p=p)
    todo = np.arange(rows)
    while len(todo):
        block = negatives[todo]
        sorted_block = np.sort(block, axis=1)
        dup = (sorted_block[:, 1:] == sorted_block[:, :-1]).any(axis=1)
        clash = (block == target[todo, None]).any(axis=1)
        clash |= (block[:, :, None] == hist[todo, None, :]).any(axis=(1, 2))
        todo = todo[dup | clash]
        negatives[todo] = rng.choice(len(ids), size=(len(todo), NEGATIVES), p=p)
    candidates = np.concatenate([negatives, target[:, None]], axis=1)
    candidates = np.take_along_axis(candidates, rng.permuted(np.tile(np.arange(NEGATIVES + 1), (rows, 1)), axis=1), axis=1)
    title_series = pl.Series(titles)
    candidate_titles = title_series.gather(candidates.ravel())
    frame = examples.select(
        user_id=pl.col("user_id"),
        chosen_item=pl.col("item"),
        history_items=pl.col("history"),
        pos=pl.col("pos"),
        n=pl.col("n"),
    ).with_columns(
        candidate_items=pl.Series(candidates).arr.to_list(),
        rejected_items=pl.Series(negatives).arr.to_list(),
        chosen=title_series.gather(target),
        candidate_titles=candidate_titles.reshape((rows, NEGATIVES + 1)).arr.to_list(),
        rejected=title_series.gather(negatives.ravel()).reshape((rows, NEGATIVES)).arr.to_list(),
    )
    history_titles = (
        title_series.gather(flat).to_frame("t").with_columns(
            row=pl.Series(np.repeat(np.arange(rows), lengths))
        ).group_by("row", maintain_order=True).agg(pl.col("t").str.join(", "))
    )
    frame = frame.with_columns(history_text=history_titles["t"])
    frame = frame.with_columns(
        prompt=pl.format(
            TEMPLATE,
            pl.col("history_text"),
            pl.lit(NEGATIVES + 1),
            pl.col("candidate_titles").list.join(", "),
        )
    )
    frame = frame.with_columns(
        part=pl.when(pl.col("pos") == pl.col("n") - 1)
        .then(pl.lit("test"))
        .when(pl.col("pos") == pl.col("n") - 2)
        .then(pl.lit("valid"))
        .otherwise(pl.lit("train"))
    )
    columns = ["prompt", "chosen", "rejected", "user_id", "chosen_item", "rejected_items", "history_items", "candidate_items"]
    total = 0
    for part in ["train", "valid", "test"]:
        path = f"{output}/{part}.parquet"
        frame.filter(pl.col("part") == part).select(columns).write_parquet(path, compression="snappy")
        total += pl.read_parquet(path).height
    print(total)


if __name__ == "__main__":
    main(*sys.argv[1:5])
