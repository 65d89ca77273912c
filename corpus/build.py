"""CLI: `python -m corpus.build --preset local|paper [--config FILE] [--set corpus.key=value ...]`.

Builds (or reuses) the corpus the experiment config describes and prints where its manifest is and what
it holds. It validates the config's `corpus:` and `paths:` sections, the two it reads; the other sections are
the search's to check (`python -m search.run` validates the whole file before it starts anything).
"""

from __future__ import annotations

import argparse
import sys

from pydantic import BaseModel, ConfigDict

from common.config_file import add_set_option, load_model
from common.errors import exit_on_input_error
from common.paths import PathsConfig
from corpus.pipeline import MANIFEST, build_corpus
from corpus.settings import CorpusConfig


class CorpusSections(BaseModel):
    """The sections of an experiment config this CLI reads (reading the whole config would import every stage)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    corpus: CorpusConfig = CorpusConfig()
    paths: PathsConfig = PathsConfig()


@exit_on_input_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.build", description=__doc__)
    parser.add_argument("--preset", help="a preset under configs/ (local, paper)")
    parser.add_argument("--config", help="an experiment config YAML file")
    add_set_option(parser, "override one config value, parsed as YAML (repeatable), e.g. corpus.max_scenarios=24")
    args = parser.parse_args(argv)
    preset = args.preset if args.preset or args.config else "local"
    config = load_model(CorpusSections, preset, args.config, args.overrides)
    build = build_corpus(config.corpus, config.paths.data_dir, show_progress=True)
    manifest = build.manifest
    generation = manifest["generation"]
    print(f"corpus {build.corpus_hash} ({'reused' if build.reused else 'built'}): {build.path / MANIFEST}")
    print(f"rows: {manifest['rows']} from {manifest['rows_generated']} generated; filters: {manifest['filters']}")
    print(
        f"calls: {generation['calls']} (cache hits {generation['cache_hits']}), tokens: "
        f"{generation['prompt_tokens']}+{generation['completion_tokens']}, cost_usd: {generation['cost_usd']}, "
        f"skipped scenarios: {generation['skipped_scenarios']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
