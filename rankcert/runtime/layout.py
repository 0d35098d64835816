"""Where every stage output lives, declared once: the stages, results reading, certify and the tools use it.

dvc.yaml spells the same paths for DVC (it cannot import Python); tests/stages/test_dvc_yaml.py checks that they agree.
One folder per seed and stage: prepare, probe, compress (every variant of the seed) and evaluate (the probe's and
every variant's predictions and metrics). Each of those four kinds of stage is in a dvc.yaml of its own,
seeds/<kind>/dvc.yaml, with its own dvc.lock (the root dvc.yaml says why). The names of the files inside a folder
are here too: a stage writes them into the scratch copy of its folder (rankcert.runtime.outputs), readers find them
through Layout.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROBE = "probe"  # the adapter name of a seed's probe, beside the variant names
SEED_STAGES = ("prepare", "probe", "compress", "evaluate")  # a seed's stages, in the order they run

# in a prepared folder (prepare@<seed>)
MANIFEST = "manifest.json"  # rankcert.config.records.Manifest


def split_file(split: str) -> str:
    """A prepared split's encoded examples (train or eval)."""
    return f"{split}.safetensors"


# in an adapter's run folder (probe@<seed>, or a variant's in compress@<seed>)
ADAPTER = "adapter"  # the PEFT folder
ADAPTER_CONFIG = "adapter_config.json"  # in the PEFT folder: PEFT's config (rankcert.config.records.AdapterConfig)
ADAPTER_WEIGHTS = "adapter_model.safetensors"  # in the PEFT folder: the LoRA factors and the trained head
RUN_RECORD = "run.json"  # rankcert.config.records.AdapterRun
TRAIN_LOG = "train_log.csv"  # step, loss, lr
SPECTRA = "spectra.json"  # the probe's: rankcert.config.records.Spectra
PLAN = "plan.json"  # a variant's: rankcert.config.records.RankPlan


@dataclass(frozen=True)
class Layout:
    root: Path = Path(".")

    def seed_pipeline(self, kind: str) -> Path:
        """The dvc.yaml of one kind of per-seed stage (SEED_STAGES)."""
        return self.root / "seeds" / kind / "dvc.yaml"

    @property
    def pipeline_files(self) -> list[Path]:
        """Every dvc.yaml: the root's (code, validate, track, plots_page, certify) and one per per-seed kind."""
        return [self.root / "dvc.yaml", *(self.seed_pipeline(kind) for kind in SEED_STAGES)]

    @property
    def lock_files(self) -> list[Path]:
        """Every dvc.lock a run writes, one beside each dvc.yaml."""
        return [path.with_suffix(".lock") for path in self.pipeline_files]

    def seed_stage(self, kind: str, seed: int) -> str:
        """DVC's address of one seed's stage, as `dvc repro` takes it: seeds/probe/dvc.yaml:probe@42."""
        return f"{self.seed_pipeline(kind).as_posix()}:{kind}@{seed}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def code(self) -> Path:
        """code: each stage's code fingerprint (the files it imports, by content hash)."""
        return self.data / "code"

    @property
    def stage_params(self) -> Path:
        """validate's: one <stage>.json per per-seed stage, the params values it reads (rankcert.config.stage_params)."""
        return self.data / "params"

    def tracked(self, key: str) -> Path:
        """track@<key>: the fingerprint of local input `key` (params inputs), rankcert.config.records.Tracked."""
        return self.data / "inputs" / f"{key}.json"

    def prepared(self, seed: int) -> Path:
        """prepare@<seed>: train.safetensors, eval.safetensors, manifest.json."""
        return self.data / "prepared" / str(seed)

    def manifest(self, seed: int) -> Path:
        return self.prepared(seed) / MANIFEST

    def split_data(self, seed: int, split: str) -> Path:
        return self.prepared(seed) / split_file(split)

    def probe(self, seed: int) -> Path:
        """probe@<seed>: adapter/, spectra.json, train_log.csv, run.json."""
        return self.data / "probe" / str(seed)

    def spectra(self, seed: int) -> Path:
        return self.probe(seed) / SPECTRA

    def variants(self, seed: int) -> Path:
        """compress@<seed>: one folder per variant, written as one folder."""
        return self.data / "variants" / str(seed)

    def run(self, seed: int, name: str) -> Path:
        """The folder of one adapter's run: the probe's, or a variant's (adapter/, plan.json, ...)."""
        return self.probe(seed) if name == PROBE else self.variants(seed) / name

    def adapter(self, seed: int, name: str) -> Path:
        return self.run(seed, name) / ADAPTER

    def run_record(self, seed: int, name: str) -> Path:
        return self.run(seed, name) / RUN_RECORD

    def train_log(self, seed: int, name: str) -> Path:
        return self.run(seed, name) / TRAIN_LOG

    def plan(self, seed: int, name: str) -> Path:
        """A variant's rank plan (the probe has none)."""
        return self.run(seed, name) / PLAN

    def predictions_folder(self, seed: int) -> Path:
        """evaluate@<seed>: <adapter>.csv, per-example predictions."""
        return self.data / "eval" / str(seed)

    def predictions(self, seed: int, name: str) -> Path:
        return self.predictions_folder(seed) / f"{name}.csv"

    def eval_metrics_folder(self, seed: int) -> Path:
        """evaluate@<seed>: <adapter>.json, accuracy and size."""
        return self.metrics / "eval" / str(seed)

    def eval_metrics(self, seed: int, name: str) -> Path:
        return self.eval_metrics_folder(seed) / f"{name}.json"

    @property
    def certificate(self) -> Path:
        """certify: the run's DVC metrics file, what a release compares (rankcert/certification/certificate.py)."""
        return self.metrics / "certify.json"

    @property
    def variant_metrics(self) -> Path:
        """certify: a DVC metrics file per variant, <variant>.json, beside the run's."""
        return self.metrics / "variants"

    @property
    def certificate_details(self) -> Path:
        """certify: everything else it computes, beside the metrics (an output, not a metrics file)."""
        return self.metrics / "certify_details.json"

    @property
    def certify_plan(self) -> Path:
        """certify: the plan its first read declared, tracked in git (rankcert/certification/plan.py)."""
        return self.metrics / "certify_plan.json"

    @property
    def certify_looks(self) -> Path:
        """certify: every look read under that plan, appended look by look."""
        return self.metrics / "certify_looks.json"

    @property
    def report(self) -> Path:
        return self.metrics / "report.md"

    @property
    def figures(self) -> Path:
        return self.metrics / "figures"

    @property
    def plot_data(self) -> Path:
        return self.root / "plots" / "data"

    @property
    def plot_templates(self) -> Path:
        return self.root / "plots" / "templates"

    @property
    def plot_page(self) -> Path:
        """plots_page: the page `dvc plots show` fills (.dvc/config's plots.html_template), libraries inlined."""
        return self.root / "plots" / "page.html"


def stage_name(address: str) -> str:
    """A stage's name from DVC's address of it: probe@42 from seeds/probe/dvc.yaml:probe@42 (or dvc.yaml:probe@42)."""
    return address.rsplit(":", 1)[-1]


LAYOUT = Layout()
