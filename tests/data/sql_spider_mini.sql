-- A small database in the shape of a Spider domain (data invented here), for the Spider-compatibility rows.
CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT, age INTEGER);
CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, concert_name TEXT, singer_id INTEGER REFERENCES singer(singer_id), year INTEGER);
INSERT INTO singer VALUES (1, 'Ada Moreau', 'France', 52);
INSERT INTO singer VALUES (2, 'Bo Lindqvist', 'Sweden', 32);
INSERT INTO singer VALUES (3, 'Chiara Russo', 'Italy', 29);
INSERT INTO singer VALUES (4, 'Dmitri Volkov', 'France', 41);
INSERT INTO singer VALUES (5, 'Elena Ortiz', 'Spain', 43);
INSERT INTO singer VALUES (6, 'Farid Haddad', 'France', 25);
INSERT INTO concert VALUES (1, 'Harbour Lights', 1, 2014);
INSERT INTO concert VALUES (2, 'Night Market', 3, 2015);
INSERT INTO concert VALUES (3, 'Old Town', 1, 2015);
INSERT INTO concert VALUES (4, 'River Stage', 5, 2014);
