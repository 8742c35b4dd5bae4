# params.yaml with the selected profile applied (then anything set with --configfile or --config), and
# validated: a bad key fails here, named.
from snakemake.utils import validate

from pathlib import Path

from gpt1.params import resolve

config.update(resolve(config, Path("params.yaml")))


validate(config, "../schemas/params.schema.yaml")
