"""Build examples/sql_concerts.sqlite, the small database the SQL example scores against.

Run from the repository root: ``python examples/sql_make_db.py``. The file is
committed too (about 20 KB), so the example runs without this step; the script
documents its contents and rebuilds it byte for byte the same way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE stadium (
    stadium_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    capacity INTEGER NOT NULL
);
CREATE TABLE singer (
    singer_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    age INTEGER,
    net_worth REAL
);
CREATE TABLE concert (
    concert_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    stadium_id INTEGER NOT NULL REFERENCES stadium(stadium_id),
    year INTEGER NOT NULL
);
CREATE TABLE singer_in_concert (
    concert_id INTEGER NOT NULL REFERENCES concert(concert_id),
    singer_id INTEGER NOT NULL REFERENCES singer(singer_id)
);
"""

STADIUMS = [
    (1, "Stark's Park", "Raith Rovers", 10104),
    (2, "Somerset Park", "Ayr United", 11998),
    (3, "Recreation Park", "Alloa Athletic", 3100),
    (4, "Balmoor", "Peterhead", 4000),
    (5, "Glebe Park", "Brechin City", 3960),
]
SINGERS = [
    (1, "Joe Sharp", "Netherlands", 52, 30.0),
    (2, "Timbaland", "United States", 32, 32.5),
    (3, "Justin Brown", "France", 29, None),
    (4, "Rose White", "France", 41, 12.25),
    (5, "John Nizinik", "France", 43, 7.0),
    (6, "Tribal King", "France", 25, None),
]
CONCERTS = [
    (1, "Auditions", 1, 2014),
    (2, "Super bootcamp", 2, 2014),
    (3, "Home Visits", 2, 2015),
    (4, "Week 1", 4, 2014),
    (5, "Week 1", 5, 2015),
    (6, "Week 2", 5, 2015),
]
SINGER_IN_CONCERT = [(1, 2), (1, 3), (1, 5), (2, 3), (2, 6), (3, 5), (4, 4), (5, 6), (5, 3), (6, 2)]


def build(path: Path) -> Path:
    """Write the database to ``path`` (replacing it)."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO stadium VALUES (?, ?, ?, ?)", STADIUMS)
        conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?, ?)", SINGERS)
        conn.executemany("INSERT INTO concert VALUES (?, ?, ?, ?)", CONCERTS)
        conn.executemany("INSERT INTO singer_in_concert VALUES (?, ?)", SINGER_IN_CONCERT)
        conn.commit()
        conn.execute("VACUUM")
    finally:
        conn.close()
    return path


if __name__ == "__main__":
    print(build(Path(__file__).resolve().parent / "sql_concerts.sqlite"))
