# params.yaml with the selected profile applied, then validated: a bad key fails here, named.
from snakemake.utils import validate

from gpt1.params import apply_profile

config.update(apply_profile(config))


validate(config, "../schemas/params.schema.yaml")
