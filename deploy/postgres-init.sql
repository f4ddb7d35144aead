-- Run once by the postgres image on an empty volume: the tracker store's database beside the
-- billing store (POSTGRES_DB). Not run here (no Docker engine on these machines).
CREATE DATABASE rasa_tracker;
