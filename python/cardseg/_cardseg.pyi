"""Type stubs of the native module (python/src/lib.rs). Use the wrappers in ``cardseg``."""

from typing import Any, List, Optional, Tuple

__version__: str
SILHOUETTE_EXACT_MAX: int
SILHOUETTE_SAMPLE: int
DEFAULT_FEATURES: List[str]
DEFAULT_PROFILE_FEATURES: List[str]
DEFAULT_ID_COLUMN: str

def run(
    data: Any,
    source_name: str,
    out: str,
    features: List[str],
    profile_features: List[str],
    id_column: Optional[str],
    no_id: bool,
    missing: str,
    k: str,
    k_min: int,
    k_max: int,
    k_rule: str,
    n_init: int,
    seed: int,
    naming_rules: Optional[str],
    silhouette_exact_max: int,
    silhouette_sample: int,
    delimiter: Optional[str],
    dashboard: bool,
    force: bool,
    table: Optional[str] = None,
    query: Optional[str] = None,
) -> str: ...
def check_out(out: str, force: bool = False) -> None: ...
def save(src: str, out: str, force: bool = False) -> str: ...
def set_quiet(quiet: bool) -> None: ...

class Model:
    @staticmethod
    def load(path: str) -> "Model": ...
    @staticmethod
    def from_json(text: str, shown: str = "model.json") -> "Model": ...
    def to_json(self) -> str: ...
    def to_sql(self, dialect: str = ..., table: Optional[str] = ..., query: Optional[str] = ...) -> str: ...
    def to_pmml(self) -> str: ...
    @property
    def checksum(self) -> str: ...
    @property
    def features(self) -> List[str]: ...
    @property
    def profile_features(self) -> List[str]: ...
    @property
    def id_column(self) -> Optional[str]: ...
    @property
    def k(self) -> int: ...
    @property
    def segment_ids(self) -> List[int]: ...
    @property
    def segment_names(self) -> List[str]: ...
    @property
    def centroids(self) -> List[List[float]]: ...
    @property
    def centroids_scaled(self) -> List[List[float]]: ...
    @property
    def inertia(self) -> float: ...
    def score(
        self, data: Any, source_name: str, delimiter: Optional[str] = None, distances: bool = False
    ) -> Tuple[bytes, bytes, bytes, bytes]: ...
    def scaled(self, data: Any, source_name: str) -> bytes: ...
