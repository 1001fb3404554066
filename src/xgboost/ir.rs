//! One model representation for every XGBoost encoding.
//!
//! Every reader (legacy binary, JSON, UBJSON, and the snapshots and pickles
//! that wrap them) produces a [`Model`]. The IR keeps what the file stores, as
//! stored, so that later stages can
//!
//! * judge container compatibility (the [`Source`] records the encoding, the
//!   wrapper and the exact dialect facts that decide which XGBoost can load it),
//! * write the model back in any dialect (every tree array, the raw objective
//!   configuration, attributes, feature names and types are kept), and
//! * evaluate predictions exactly (f32 thresholds, `default_left`,
//!   categorical sets, vector leaves, DART weights, gblinear weights, and
//!   `base_score` as stored together with the space it is stored in).
//!
//! Values are not normalised beyond what the encoding forces: a JSON root
//! parent stays `2147483647`, a multi-target root parent stays `-1`, a binary
//! parent loses only its "is left child" bit. [`Tree::is_leaf`] and friends
//! encode XGBoost's rules for reading them.

use crate::report::Location;
use serde::Serialize;
use std::fmt;

/// The parent value XGBoost writes for a root node in JSON/UBJSON
/// (`-1` with the "is left child" bit masked off).
pub const ROOT_PARENT: i32 = 0x7FFF_FFFF;

/// The split index XGBoost stores for a deleted node (`0xFFFFFFFF` in the
/// binary `sindex` field, i.e. this index with `default_left` set).
pub const DELETED_SPLIT_INDEX: i32 = 0x7FFF_FFFF;

/// A complete XGBoost model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    /// Where the model came from: encoding, wrappers, dialect facts.
    pub source: Source,
    /// The XGBoost version that wrote it, exact or as a range.
    pub version: ProducerVersion,
    /// Learner-level parameters (`learner_model_param` / `LearnerModelParam`).
    pub learner: LearnerParams,
    /// The objective and its configuration.
    pub objective: Objective,
    /// The booster (trees or linear weights).
    pub booster: Booster,
    /// Feature names stored in the model (1.4+), or in a pickle's Python state.
    pub feature_names: Vec<String>,
    /// Feature types (`q`, `c`, `int`, `float`, `i`), when stored.
    pub feature_types: Vec<String>,
    /// Attributes (`best_iteration`, ...) as XGBoost reports them, in file
    /// order. The binary format's `objective`/`metrics` attributes, which
    /// 1.0+ loaders consume, are not included (they are in
    /// [`Objective::config`] and [`BinaryFacts::metrics`]).
    pub attributes: Vec<(String, String)>,
    /// Locations of top-level items, for findings.
    #[serde(skip)]
    pub spans: SourceMap,
}

impl Model {
    /// The number of output groups the trees are summed into:
    /// `max(num_class, 1)` for scalar-leaf models, `num_target` for
    /// multi-target (vector-leaf) models.
    pub fn num_output_groups(&self) -> usize {
        let classes = usize::try_from(self.learner.num_class).unwrap_or(0).max(1);
        let targets = usize::try_from(self.learner.num_target).unwrap_or(0).max(1);
        classes.max(targets)
    }

    /// The trees, or an empty slice for gblinear.
    pub fn trees(&self) -> &[Tree] {
        match &self.booster {
            Booster::Trees(t) => &t.trees,
            Booster::Linear(_) => &[],
        }
    }

    /// The location of a top-level item (`"base_score"`, `"num_feature"`,
    /// `"tree_info"`, ...) or of element `index` of it.
    pub fn locate(&self, item: &str, index: Option<usize>) -> Option<Location> {
        self.spans.locate(item, index)
    }

    /// The location of `field[node]` of tree `tree`, falling back to
    /// [`Location::Node`] when the encoding gives no finer position.
    pub fn locate_node(&self, tree: usize, field: &str, node: usize) -> Location {
        self.spans
            .trees
            .get(tree)
            .and_then(|t| t.locate(field, Some(node)))
            .unwrap_or(Location::Node { tree, node })
    }

    /// The location of tree `tree` (or of its `field`) as a whole.
    pub fn locate_tree(&self, tree: usize, field: Option<&str>) -> Option<Location> {
        let spans = self.spans.trees.get(tree)?;
        match field {
            Some(f) => spans.locate(f, None),
            None => spans.locate_self(),
        }
    }
}

// ------------------------------------------------------------------------- source

/// The three model encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// Legacy little-endian binary (0.90 – 3.0), with or without `binf`.
    LegacyBinary,
    /// JSON text (1.0+).
    Json,
    /// XGBoost's UBJSON dialect (1.6+).
    Ubjson,
}

impl Encoding {
    /// A short human name ("legacy binary", "JSON", "UBJSON").
    pub fn describe(self) -> &'static str {
        match self {
            Encoding::LegacyBinary => "legacy binary",
            Encoding::Json => "JSON",
            Encoding::Ubjson => "UBJSON",
        }
    }

    /// The `format` string used in [`crate::Error::InvalidModel`].
    pub fn format_name(self) -> &'static str {
        match self {
            Encoding::LegacyBinary => "XGBoost legacy binary",
            Encoding::Json => "XGBoost JSON",
            Encoding::Ubjson => "XGBoost UBJSON",
        }
    }
}

/// A memory snapshot wrapping the model (what `Learner::Save` writes, i.e.
/// what a pickle holds in its `handle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotKind {
    /// `CONFIG-offset:` + i64 + legacy binary + JSON config (1.0 – 1.2).
    ConfigOffset,
    /// JSON text `{"Config":…,"Model":…}` (1.3 – 1.5 pickles).
    Json,
    /// UBJSON `{"Config":…,"Model":…}` (1.6+ pickles).
    Ubjson,
}

/// Where the model bytes came from and the facts about their dialect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// Encoding of the model itself (inside any wrapper).
    pub encoding: Encoding,
    /// Set when the model was found inside a memory snapshot.
    pub snapshot: Option<SnapshotKind>,
    /// Set when the input was a Python pickle.
    pub pickle: Option<PickleInfo>,
    /// Legacy-binary header facts (binary models only).
    pub binary: Option<BinaryFacts>,
    /// JSON/UBJSON dialect facts (document models only).
    pub dialect: Option<DocDialect>,
    /// Size of the whole input in bytes.
    pub input_len: u64,
    /// Where the model bytes start in the input: 0 for a bare model file,
    /// the payload offset for pickles and `CONFIG-offset:` snapshots. For a
    /// protocol-2 pickle the payload is a latin-1 string, whose byte offsets
    /// do not map one-to-one to the input; locations are then relative to the
    /// decoded payload.
    pub payload_offset: u64,
}

/// Facts a legacy-binary header records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BinaryFacts {
    /// The file starts with the 4-byte `binf` magic (1.1 – 3.0).
    pub binf_magic: bool,
    /// `LearnerModelParam.major_version` (0 for 0.90 and earlier).
    pub major_version: u32,
    /// `LearnerModelParam.minor_version`.
    pub minor_version: u32,
    /// `contain_extra_attrs` as stored.
    pub contain_extra_attrs: i32,
    /// `contain_eval_metrics` as stored.
    pub contain_eval_metrics: i32,
    /// The objective string was stored with the pre-0.90 32-bit length quirk.
    pub old_string_length: bool,
    /// 0.90 `count:poisson` models: the `max_delta_step` string.
    pub max_delta_step: Option<String>,
    /// Metric names: 0.90 `contain_eval_metrics` list, or the 1.x `metrics`
    /// attribute split on `;`.
    pub metrics: Vec<String>,
    /// The JSON text of the `objective` attribute (1.0+), as stored.
    pub objective_attribute: Option<String>,
    /// The objective name stored in the header. [`Objective::name`] is the
    /// attribute's name when the two differ (1.0+ loaders use the
    /// attribute; the header's `reg:linear` becomes `reg:squarederror`).
    pub header_objective: String,
    /// Names of 0.90's `SAVED_PARAM_*` attributes (also in
    /// [`Model::attributes`], where XGBoost reports them too).
    pub saved_param_attributes: Vec<String>,
}

/// How a boolean array was stored in a JSON/UBJSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoolRepr {
    /// JSON `true`/`false` (written by 1.0 – 1.5).
    Bool,
    /// Integers 0/1 (written by 1.6+).
    Int,
    /// Both forms appear in one model.
    Mixed,
}

/// Layout of multi-target (vector-leaf) trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MultiTargetLayout {
    /// 2.0 – 3.1: leaf vectors in `base_weights[node*k..]`.
    PerNodeBaseWeights,
    /// 3.2+: leaf vectors in `leaf_weights[right_children[leaf]*k..]`.
    LeafWeights,
}

/// Dialect facts of a JSON or UBJSON model document that decide which
/// XGBoost versions can load it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DocDialect {
    /// `version` array as stored (`[major, minor, patch]`).
    pub version: Option<Vec<i64>>,
    /// Trees carry `leaf_child_counts` (written by 1.0 – 1.2, required by them).
    pub leaf_child_counts: bool,
    /// How `default_left` was stored.
    pub default_left: Option<BoolRepr>,
    /// Tree arrays were UBJSON typed arrays (`[$…#L…`).
    pub typed_tree_arrays: bool,
    /// Element markers of every UBJSON typed array in the document, sorted
    /// and unique (e.g. `"LUdl"`, `"LUdil"` when `cats` uses `$i`).
    pub typed_array_markers: String,
    /// UBJSON scalar value markers seen anywhere in the document (sorted,
    /// unique; `D` means an f64 scalar, unreadable before 2.1).
    pub scalar_markers: String,
    /// `base_score` is a string holding a JSON array (3.1+).
    pub base_score_vector: bool,
    /// Multi-target tree layout, when there are vector-leaf trees.
    pub multi_target_layout: Option<MultiTargetLayout>,
    /// `gradient_booster.model.cats` is present (3.1+).
    pub cats: bool,
    /// DART weights stored as `model.weight_drop` under a booster named
    /// `gbtree` (3.4+ layout).
    pub weight_drop_in_gbtree: bool,
    /// The booster name as stored (`gbtree`, `dart`, `gblinear`).
    pub booster_name: String,
    /// Trees carry `split_type`.
    pub split_type: bool,
    /// Trees carry the `categories*` arrays.
    pub categories_arrays: bool,
    /// `gbtree_model_param.num_parallel_tree` is present (1.6+).
    pub num_parallel_tree_param: bool,
    /// `gbtree_model_param.size_leaf_vector` is present (≤ 1.7).
    pub size_leaf_vector_param: bool,
    /// `iteration_indptr` is present (2.0+).
    pub iteration_indptr: bool,
    /// `learner_model_param.num_target` is present (1.6+).
    pub num_target_param: bool,
    /// `learner_model_param.boost_from_average` is present (1.7+).
    pub boost_from_average_param: bool,
    /// `learner.feature_names` is present (1.4+).
    pub feature_names_key: bool,
    /// gblinear `boosted_rounds` is present (1.6+).
    pub boosted_rounds: bool,
    /// Some float field held an integer (XGBoost rejects that on load).
    pub integers_in_float_fields: bool,
    /// Some float value was stored as f64 (UBJSON `D`).
    pub f64_values: bool,
    /// JSON floats use 1.0.x's 18-significant-digit `%e` style.
    pub long_float_text: bool,
}

/// What kind of object a pickle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PickleObject {
    /// `xgboost.core.Booster`.
    Booster,
    /// A scikit-learn wrapper (`xgboost.sklearn.XGBClassifier`, ...), which
    /// the built-in container cannot load.
    SklearnWrapper,
    /// Another Python object holding a Booster (e.g. a scikit-learn
    /// `Pipeline`), which the built-in container cannot load either.
    OtherObject,
}

/// How the model bytes were stored in the pickle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PicklePayloadOp {
    /// `SHORT_BINBYTES` (protocol 3+).
    ShortBinbytes,
    /// `BINBYTES` (protocol 3+).
    Binbytes,
    /// `BINBYTES8` (protocol 4+).
    Binbytes8,
    /// `BYTEARRAY8` (protocol 5).
    Bytearray8,
    /// Protocol ≤ 2: `_codecs.encode(<str>, 'latin1')`.
    Latin1String,
}

/// What the pickle walker found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PickleInfo {
    /// Pickle protocol (from `PROTO`, or 0/1 when absent).
    pub protocol: u8,
    /// Module of the pickled object's class, e.g. `xgboost.core`.
    pub module: String,
    /// Class name, e.g. `Booster` or `XGBClassifier`.
    pub class: String,
    /// Booster or scikit-learn wrapper.
    pub object: PickleObject,
    /// How the model bytes were stored.
    pub payload_op: PicklePayloadOp,
    /// Offset of the payload opcode's data in the pickle.
    pub payload_offset: u64,
    /// Length of the model bytes.
    pub payload_len: u64,
    /// `feature_names` from the Python state (≤ 1.5 keep them there).
    pub state_feature_names: Option<Vec<String>>,
    /// `feature_types` from the Python state.
    pub state_feature_types: Option<Vec<String>>,
}

// ------------------------------------------------------------------------- version

/// An XGBoost release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch, when known.
    pub patch: Option<u32>,
}

impl Version {
    /// `major.minor` with unknown patch.
    pub const fn mm(major: u32, minor: u32) -> Self {
        Version {
            major,
            minor,
            patch: None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.major, self.minor, self.patch) {
            // XGBoost's own spelling of that release.
            (0, 90, _) => write!(f, "0.90"),
            (a, b, Some(c)) => write!(f, "{a}.{b}.{c}"),
            (a, b, None) => write!(f, "{a}.{b}"),
        }
    }
}

/// The producing XGBoost version, exact or as the range the encoding implies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProducerVersion {
    /// The version the file records (JSON `version`, binary header
    /// `major.minor`), when it records one.
    pub exact: Option<Version>,
    /// Lowest version that writes this encoding/dialect.
    pub min: Version,
    /// Highest version that writes it (`None`: up to the newest).
    pub max: Option<Version>,
    /// Why: which fact of the file gives the version or range.
    pub basis: String,
}

impl fmt::Display for ProducerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.exact {
            return write!(f, "{v}");
        }
        match self.max {
            Some(max) if max == self.min => write!(f, "{}", self.min),
            Some(max) => write!(f, "{} – {}", self.min, max),
            None => write!(f, "≥ {}", self.min),
        }
    }
}

// ------------------------------------------------------------------------- learner

/// The space a stored `base_score` is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreSpace {
    /// Already a margin (0.90 legacy binary, header major version 0).
    Margin,
    /// Response/probability space; the margin is the objective's
    /// `ProbToMargin` of it (everything else).
    Response,
}

/// `base_score` as stored and parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaseScore {
    /// The text as stored: the JSON string (`"5E-1"`, `"[4.4666666E-1]"`),
    /// or the shortest round-trip text of the binary f32.
    pub stored: String,
    /// Parsed values (f32, as XGBoost holds them). One element for a scalar.
    pub values: Vec<f32>,
    /// Stored as a vector string `"[…]"` (3.1+).
    pub vector: bool,
    /// Which space the stored values are in.
    pub space: ScoreSpace,
}

/// Learner-level model parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnerParams {
    /// The intercept.
    pub base_score: BaseScore,
    /// Number of features.
    pub num_feature: u64,
    /// Number of classes (0 when not multi-class).
    pub num_class: i64,
    /// Number of targets (1 unless multi-output; absent before 1.6 ⇒ 1).
    pub num_target: i64,
    /// `boost_from_average` (1.7+ JSON, 1.7+ binary header).
    pub boost_from_average: Option<bool>,
}

/// The objective: name plus its configuration as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    /// e.g. `binary:logistic`.
    pub name: String,
    /// The raw objective configuration object (`{"name":…, "reg_loss_param":{…}}`);
    /// for binary models the parsed `objective` attribute (1.0+) or
    /// `{"name": …}` for 0.90.
    pub config: serde_json::Value,
}

// ------------------------------------------------------------------------- booster

/// The booster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Booster {
    /// gbtree or dart.
    Trees(TreeModel),
    /// gblinear.
    Linear(LinearModel),
}

impl Booster {
    /// `gbtree`, `dart` or `gblinear`.
    pub fn name(&self) -> &'static str {
        match self {
            Booster::Trees(t) if t.dart => "dart",
            Booster::Trees(_) => "gbtree",
            Booster::Linear(_) => "gblinear",
        }
    }
}

/// A tree ensemble (gbtree, or dart when [`TreeModel::dart`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeModel {
    /// DART booster (stored as `dart`, or as 3.4+ `gbtree` with `weight_drop`).
    pub dart: bool,
    /// `num_trees` as declared (`gbtree_model_param` / `GBTreeModelParam`).
    pub num_trees_declared: i64,
    /// `num_parallel_tree` (1.6+; the binary 1.6+ field; `None` when absent).
    pub num_parallel_tree: Option<i64>,
    /// `size_leaf_vector` of the booster parameter, when stored (≤ 1.7 JSON, binary).
    pub size_leaf_vector: Option<i64>,
    /// The binary `num_output_group` field (0.90 writes max(num_class,1), later 0).
    pub num_output_group_field: Option<i64>,
    /// The binary `num_feature` field of `GBTreeModelParam` (0.90).
    pub num_feature_field: Option<i64>,
    /// The trees.
    pub trees: Vec<Tree>,
    /// Output group (class) of each tree.
    pub tree_info: Vec<i32>,
    /// Trees per boosting round, CSR style (2.0+).
    pub iteration_indptr: Option<Vec<i64>>,
    /// DART weight of each tree.
    pub weight_drop: Option<Vec<f32>>,
    /// `num_parallel_tree` from a memory snapshot's training configuration
    /// (pickles), which ≤ 1.5 models do not store themselves.
    pub config_num_parallel_tree: Option<i64>,
    /// The 3.1+ `cats` category container, kept as a document for re-encoding.
    pub cats: Option<crate::xgboost::doc::Node>,
}

/// A gblinear model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearModel {
    /// `(num_feature + 1) × groups` weights: `weights[f*groups + g]`, biases last.
    pub weights: Vec<f32>,
    /// `boosted_rounds` (1.6+ JSON).
    pub boosted_rounds: Option<i64>,
    /// Binary `GBLinearModelParam.num_feature` field.
    pub num_feature_field: Option<i64>,
    /// Binary `GBLinearModelParam.num_output_group` field.
    pub num_output_group_field: Option<i64>,
}

/// `tree_param`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeParam {
    /// Declared node count.
    pub num_nodes: i64,
    /// Declared deleted-node count.
    pub num_deleted: i64,
    /// Feature count recorded in the tree.
    pub num_feature: i64,
    /// Leaf vector size: 0 (≤ 1.7) or 1 for scalar leaves, k > 1 for vector leaves.
    pub size_leaf_vector: i64,
    /// Binary `num_roots` (deprecated, must be 1).
    pub num_roots: Option<i64>,
    /// Binary `max_depth` field (deprecated).
    pub max_depth_field: Option<i64>,
}

/// Categorical split sets in CSR form (`categories_*` arrays).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CategorySets {
    /// Node ids of categorical splits.
    pub nodes: Vec<i32>,
    /// Start of each node's categories in `values`.
    pub segments: Vec<i64>,
    /// Number of categories of each node.
    pub sizes: Vec<i64>,
    /// Category codes; the listed categories go right.
    pub values: Vec<i32>,
}

impl CategorySets {
    /// The categories of categorical node `node` (the ones that go right),
    /// when its CSR entry is in range.
    pub fn of(&self, node: usize) -> Option<&[i32]> {
        let i = self
            .nodes
            .iter()
            .position(|&n| usize::try_from(n).ok() == Some(node))?;
        let start = usize::try_from(*self.segments.get(i)?).ok()?;
        let len = usize::try_from(*self.sizes.get(i)?).ok()?;
        self.values.get(start..start.checked_add(len)?)
    }
}

/// One regression tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tree {
    /// `id` (JSON/UBJSON), must equal the position.
    pub id: Option<i64>,
    /// The tree parameter.
    pub param: TreeParam,
    /// Left child of each node; -1 for a leaf.
    pub left_children: Vec<i32>,
    /// Right child of each node; -1 for a leaf, except 3.2+ vector leaves
    /// where it indexes `leaf_weights`.
    pub right_children: Vec<i32>,
    /// Parent of each node; the root stores [`ROOT_PARENT`] (or -1).
    pub parents: Vec<i32>,
    /// Split feature of each node (0 for leaves, [`DELETED_SPLIT_INDEX`] for
    /// deleted nodes). XGBoost's feature index is 31 bits wide in every
    /// encoding that can hold a tree (the binary `sindex` keeps bit 31 for
    /// `default_left`); a JSON/UBJSON value beyond `i32::MAX` is refused.
    pub split_indices: Vec<i32>,
    /// Threshold of a split node, leaf value of a leaf (f32, learning rate applied).
    pub split_conditions: Vec<f32>,
    /// Missing-value direction.
    pub default_left: Vec<bool>,
    /// 0 numerical, 1 categorical (1.3+; `None` when absent).
    pub split_type: Option<Vec<u8>>,
    /// Categorical split sets (1.3+; `None` when the arrays are absent).
    pub categories: Option<CategorySets>,
    /// Node weights (`num_nodes × k` for 2.0–3.1 vector leaves).
    pub base_weights: Vec<f32>,
    /// Gain of each split (empty when not stored).
    pub loss_changes: Vec<f32>,
    /// Cover of each node (empty when not stored).
    pub sum_hessian: Vec<f32>,
    /// `leaf_child_counts` (1.0 – 1.2 JSON, binary stats).
    pub leaf_child_counts: Option<Vec<i32>>,
    /// 3.2+ vector-leaf outputs, `n_leaves × k`.
    pub leaf_weights: Option<Vec<f32>>,
}

impl Tree {
    /// Number of node slots present in the arrays.
    pub fn len(&self) -> usize {
        self.left_children.len()
    }

    /// True when the tree has no nodes.
    pub fn is_empty(&self) -> bool {
        self.left_children.is_empty()
    }

    /// XGBoost's leaf test: left child is -1.
    pub fn is_leaf(&self, node: usize) -> bool {
        self.left_children.get(node).is_some_and(|&l| l == -1)
    }

    /// XGBoost's deleted-node test (binary `sindex == 0xFFFFFFFF`).
    pub fn is_deleted(&self, node: usize) -> bool {
        self.split_indices.get(node) == Some(&DELETED_SPLIT_INDEX)
            && self.default_left.get(node) == Some(&true)
    }

    /// True when node `node` is a categorical split.
    pub fn is_categorical(&self, node: usize) -> bool {
        self.split_type
            .as_ref()
            .and_then(|s| s.get(node))
            .is_some_and(|&t| t == 1)
    }

    /// Leaf vector size k (1 for scalar leaves).
    pub fn leaf_size(&self) -> usize {
        usize::try_from(self.param.size_leaf_vector)
            .unwrap_or(1)
            .max(1)
    }

    /// True for a multi-target (vector-leaf) tree.
    pub fn is_vector_leaf(&self) -> bool {
        self.param.size_leaf_vector > 1
    }

    /// The output of leaf `node`: one value for scalar trees, k values for
    /// vector-leaf trees (2.0–3.1 `base_weights` or 3.2+ `leaf_weights`).
    /// `None` when the arrays do not hold it.
    pub fn leaf_value(&self, node: usize) -> Option<&[f32]> {
        if !self.is_vector_leaf() {
            return self.split_conditions.get(node..node.checked_add(1)?);
        }
        let k = self.leaf_size();
        match &self.leaf_weights {
            Some(lw) => {
                let idx = usize::try_from(*self.right_children.get(node)?).ok()?;
                let start = idx.checked_mul(k)?;
                lw.get(start..start.checked_add(k)?)
            }
            None => {
                let start = node.checked_mul(k)?;
                self.base_weights.get(start..start.checked_add(k)?)
            }
        }
    }
}

// ------------------------------------------------------------------------- locations

/// Where an item sits in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// A JSON path (JSON documents).
    Path(String),
    /// A byte offset; element `i` is at `offset + i × stride` (stride 0: the
    /// elements have no fixed size, every index maps to `offset`).
    Bytes {
        /// Offset of the item (or its first element).
        offset: u64,
        /// Element size in bytes, or 0.
        stride: u64,
    },
}

impl Span {
    /// The location of the item, or of its element `index`.
    pub fn at(&self, index: Option<usize>) -> Location {
        match (self, index) {
            (Span::Path(p), None) => Location::JsonPath(p.clone()),
            (Span::Path(p), Some(i)) => Location::JsonPath(format!("{p}[{i}]")),
            (Span::Bytes { offset, .. }, None) => Location::Offset(*offset),
            (Span::Bytes { offset, stride }, Some(i)) => {
                Location::Offset(offset.saturating_add(stride.saturating_mul(i as u64)))
            }
        }
    }
}

/// Locations of the items of one tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeSpans {
    /// The tree itself.
    pub tree: Option<Span>,
    /// Per-field spans (`left_children`, `split_conditions`, ...).
    pub fields: Vec<(&'static str, Span)>,
}

impl TreeSpans {
    fn locate(&self, field: &str, index: Option<usize>) -> Option<Location> {
        if let Some((_, s)) = self.fields.iter().find(|(f, _)| *f == field) {
            return Some(s.at(index));
        }
        // JSON: derive the field path from the tree path.
        match &self.tree {
            Some(Span::Path(p)) => Some(Span::Path(format!("{p}.{field}")).at(index)),
            _ => None,
        }
    }

    fn locate_self(&self) -> Option<Location> {
        self.tree.as_ref().map(|s| s.at(None))
    }
}

/// Locations of model items, filled by the readers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// Top-level items by name (`base_score`, `num_feature`, `objective`,
    /// `tree_info`, `iteration_indptr`, `weight_drop`, `weights`,
    /// `feature_names`, `trees`, `num_trees`, `end`).
    pub items: Vec<(&'static str, Span)>,
    /// Per-tree spans, indexed like the trees.
    pub trees: Vec<TreeSpans>,
}

impl SourceMap {
    /// Records the span of a top-level item.
    pub fn set(&mut self, item: &'static str, span: Span) {
        self.items.push((item, span));
    }

    /// The location of an item or of its element `index`.
    pub fn locate(&self, item: &str, index: Option<usize>) -> Option<Location> {
        self.items
            .iter()
            .rev()
            .find(|(k, _)| *k == item)
            .map(|(_, s)| s.at(index))
    }
}

// ------------------------------------------------------------------------- objectives

/// The link between a stored `base_score` and the margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    /// margin = value.
    Identity,
    /// margin = logit(value); value must be in (0, 1).
    Logit,
    /// margin = ln(value); value must be > 0.
    Log,
}

/// What sm-pack knows about an objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectiveInfo {
    /// Name.
    pub name: &'static str,
    /// First XGBoost version that knows it (`0.90` for everything older).
    pub since: Version,
    /// Last version that knows it (`None`: still current).
    pub until: Option<Version>,
    /// How `base_score` maps to the margin.
    pub link: Link,
    /// Multi-class objective (needs num_class ≥ 2).
    pub multiclass: bool,
}

/// Every objective XGBoost 0.90 – 3.4 knows.
pub const OBJECTIVES: &[ObjectiveInfo] = &[
    obj("reg:squarederror", 0, 90, Link::Identity, false),
    // Deprecated (saved as reg:squarederror since 1.0) but still loaded by
    // 3.0.5 and 3.2.0 (testdata/xgboost/container-matrix.json).
    obj("reg:linear", 0, 90, Link::Identity, false),
    obj("reg:squaredlogerror", 1, 0, Link::Identity, false),
    obj("reg:logistic", 0, 90, Link::Logit, false),
    obj("reg:pseudohubererror", 1, 2, Link::Identity, false),
    obj("reg:absoluteerror", 1, 7, Link::Identity, false),
    obj("reg:quantileerror", 2, 0, Link::Identity, false),
    obj("reg:expectileerror", 3, 3, Link::Identity, false),
    obj("reg:gamma", 0, 90, Link::Log, false),
    obj("reg:tweedie", 0, 90, Link::Log, false),
    obj("binary:logistic", 0, 90, Link::Logit, false),
    obj("binary:logitraw", 0, 90, Link::Identity, false),
    obj("binary:hinge", 0, 90, Link::Identity, false),
    obj("count:poisson", 0, 90, Link::Log, false),
    obj("survival:cox", 0, 90, Link::Log, false),
    obj("survival:aft", 1, 1, Link::Log, false),
    obj("multi:softmax", 0, 90, Link::Identity, true),
    obj("multi:softprob", 0, 90, Link::Identity, true),
    obj("rank:pairwise", 0, 90, Link::Identity, false),
    obj("rank:ndcg", 0, 90, Link::Identity, false),
    obj("rank:map", 0, 90, Link::Identity, false),
];

const fn obj(name: &'static str, ma: u32, mi: u32, link: Link, multiclass: bool) -> ObjectiveInfo {
    ObjectiveInfo {
        name,
        since: Version::mm(ma, mi),
        until: None,
        link,
        multiclass,
    }
}

/// Looks up an objective by name.
pub fn objective_info(name: &str) -> Option<&'static ObjectiveInfo> {
    OBJECTIVES.iter().find(|o| o.name == name)
}

impl Objective {
    /// What sm-pack knows about this objective, if anything.
    pub fn info(&self) -> Option<&'static ObjectiveInfo> {
        objective_info(&self.name)
    }
}

impl Model {
    /// The link the producing XGBoost uses to turn the stored `base_score`
    /// into a margin. `binary:logitraw` inherited the logit before 1.3 and
    /// uses the identity from 1.3 (measured: 1.0/1.2 files mispredict in
    /// 1.3.3, 1.3.3 files load in 1.3.3 and later; the same boundary as
    /// [`crate::container`]'s verdicts).
    pub fn base_score_link(&self) -> Link {
        let link = self
            .objective
            .info()
            .map(|i| i.link)
            .unwrap_or(Link::Identity);
        if self.objective.name == "binary:logitraw" {
            let v = self
                .version
                .exact
                .or(self.version.max)
                .unwrap_or(self.version.min);
            if (v.major, v.minor) < (1, 3) {
                return Link::Logit;
            }
        }
        link
    }

    /// Trees per output group per round: the model's `num_parallel_tree`
    /// (1.6+ documents and binaries), else a snapshot configuration's, else 1.
    pub fn num_parallel_tree(&self) -> usize {
        let Booster::Trees(t) = &self.booster else {
            return 1;
        };
        let stored = t.num_parallel_tree.filter(|_| {
            self.source.encoding != Encoding::LegacyBinary || self.version.min >= Version::mm(1, 6)
        });
        stored
            .or(t.config_num_parallel_tree)
            .and_then(|p| usize::try_from(p).ok())
            .filter(|&p| p >= 1)
            .unwrap_or(1)
    }

    /// The intercept in margin space, one value per stored element
    /// (`None` for a value outside the link's domain, e.g. a logistic
    /// `base_score` of 1.5).
    pub fn base_margin(&self) -> Vec<Option<f64>> {
        let bs = &self.learner.base_score;
        if bs.space == ScoreSpace::Margin {
            return bs.values.iter().map(|&v| Some(f64::from(v))).collect();
        }
        let link = self.base_score_link();
        bs.values.iter().map(|&v| prob_to_margin(link, v)).collect()
    }
}

impl Model {
    /// The intercept margin XGBoost adds to each output group (length
    /// [`Model::num_output_groups`]).
    ///
    /// A scalar `base_score` is broadcast. A vector `base_score` (3.1+) gives
    /// one value per group for tree boosters; for **gblinear** XGBoost 3.1
    /// and 3.2 add the first element to every group (measured on the
    /// fixtures in `testdata/xgboost`, `gblinear-multi`).
    ///
    /// Returns an empty vector when the group count is implausible for the
    /// model's size (more than 65536 groups and more groups than trees or
    /// weights), so a hostile `num_class` cannot force a huge allocation;
    /// validation reports such models.
    pub fn group_base_margins(&self) -> Vec<Option<f64>> {
        let per = self.base_margin();
        let groups = self.num_output_groups();
        let size = match &self.booster {
            Booster::Trees(t) => t.trees.len(),
            Booster::Linear(l) => l.weights.len(),
        };
        if groups > 65_536 && groups > size {
            return Vec::new();
        }
        let linear = matches!(self.booster, Booster::Linear(_));
        (0..groups)
            .map(|g| {
                let i = if per.len() == 1 || linear { 0 } else { g };
                per.get(i).copied().flatten()
            })
            .collect()
    }
}

/// XGBoost's `ProbToMargin` for a link, in f64. `None` outside the domain.
pub fn prob_to_margin(link: Link, v: f32) -> Option<f64> {
    let v = f64::from(v);
    match link {
        Link::Identity => v.is_finite().then_some(v),
        // `+ 0.0` turns -0.0 (from -ln(1)) into 0.0.
        Link::Logit => (v > 0.0 && v < 1.0).then(|| -(1.0 / v - 1.0).ln() + 0.0),
        Link::Log => (v > 0.0 && v.is_finite()).then(|| v.ln() + 0.0),
    }
}
