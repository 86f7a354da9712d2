-- The data's own database beside Dagster's (`dagster`, created by the image from POSTGRES_DB).
CREATE DATABASE warehouse OWNER elt;
