//! The lab's Task 4: parallel K-fold cross-validation on Iris with linfa,
//! plus a parallel model search.
//!
//! The dataset is put into the object store once; one remote task per fold
//! (per model and fold, in the search) receives it as a dependency, trains
//! a linfa model on the other folds and scores it on its own.
//!
//! In the search, a leaderboard actor collects the scores: each evaluate
//! task reports its model's accuracy on its fold to it (the task receives
//! the actor's handle), and the driver prints the actor's top entries at
//! the end, beside its own ranking of the results.
//!
//! By default the folds are scikit-learn's
//! `KFold(n_splits=5, shuffle=True, random_state=42)` on Iris, shipped as a
//! fixed table (no Python at run time), so linfa's figures can be read
//! beside scikit-learn's `LogisticRegression(max_iter=200)` on the very same
//! folds. The Iris copy is linfa-datasets', with the two errata of the UCI
//! file (samples 35 and 38) corrected as scikit-learn's copy has them.
//!
//! Usage: `raylab-host run task4.wasm -- [--model lr|tree|nb] [--param K=V]...
//! [--seed N] [--search] [--synthetic N] [--no-sequential]`

use std::time::Instant;

use linfa::prelude::*;
use linfa_bayes::GaussianNb;
use linfa_logistic::MultiLogisticRegression;
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, Ix1};
use raylab_guest::{ActorHandle, PackedVec, actor, get_all, put, remote, tasks};
use raylab_labkit::{Flags, SplitMix64};
use serde::{Deserialize, Serialize};

/// Test indices of scikit-learn's `KFold(5, shuffle=True, random_state=42)`
/// on the 150 Iris samples.
const SKLEARN_FOLDS: [[u8; 30]; 5] = [
    [
        9, 12, 18, 19, 26, 29, 30, 31, 36, 45, 55, 56, 64, 68, 69, 73, 76, 78, 82, 104, 108, 110,
        118, 127, 128, 131, 132, 141, 143, 145,
    ],
    [
        0, 4, 10, 11, 15, 16, 22, 27, 28, 32, 40, 42, 44, 51, 60, 65, 66, 67, 75, 81, 85, 86, 96,
        105, 109, 122, 133, 137, 142, 146,
    ],
    [
        5, 7, 23, 24, 25, 33, 34, 35, 39, 43, 47, 49, 53, 62, 70, 77, 80, 84, 93, 94, 95, 97, 101,
        111, 113, 114, 117, 123, 138, 148,
    ],
    [
        2, 3, 6, 8, 13, 17, 38, 46, 50, 54, 59, 61, 63, 72, 79, 83, 89, 98, 100, 112, 115, 119,
        120, 125, 126, 134, 135, 136, 139, 147,
    ],
    [
        1, 14, 20, 21, 37, 41, 48, 52, 57, 58, 71, 74, 87, 88, 90, 91, 92, 99, 102, 103, 106, 107,
        116, 121, 124, 129, 130, 140, 144, 149,
    ],
];

/// scikit-learn's `LogisticRegression(max_iter=200)` on those folds.
const SKLEARN_ACCURACY: [f64; 5] = [
    1.0,
    1.0,
    0.9333333333333333,
    0.9666666666666667,
    0.9666666666666667,
];

/// A classification dataset, row-major, as it travels through the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Data {
    /// Features per sample.
    pub n_features: u32,
    /// Number of classes (labels are 0..n_classes).
    pub n_classes: u32,
    /// `n_samples * n_features` values, row-major.
    pub features: PackedVec<f64>,
    /// One label per sample.
    pub labels: PackedVec<u32>,
    /// Fold of each sample.
    pub folds: PackedVec<u8>,
}

impl Data {
    fn n_samples(&self) -> usize {
        self.labels.len()
    }

    /// (train, test) datasets for `fold`.
    fn split(&self, fold: u8) -> (Dataset<f64, usize, Ix1>, Array2<f64>, Array1<usize>) {
        let f = self.n_features as usize;
        let pick = |test: bool| {
            let idx: Vec<usize> = (0..self.n_samples())
                .filter(|&i| (self.folds[i] == fold) == test)
                .collect();
            let mut x = Array2::zeros((idx.len(), f));
            for (r, &i) in idx.iter().enumerate() {
                for c in 0..f {
                    x[[r, c]] = self.features[i * f + c];
                }
            }
            let y: Array1<usize> = idx.iter().map(|&i| self.labels[i] as usize).collect();
            (x, y)
        };
        let (xt, yt) = pick(false);
        let (xs, ys) = pick(true);
        (Dataset::new(xt, yt), xs, ys)
    }
}

/// A model family with its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Model {
    /// Multinomial logistic regression.
    Logistic {
        /// L2 regularisation strength (linfa's `alpha`).
        alpha: f64,
        /// Optimiser iterations.
        max_iterations: u64,
    },
    /// CART decision tree.
    Tree {
        /// Depth limit (`None`: unlimited).
        max_depth: Option<u32>,
        /// Minimum weight of a node to split.
        min_weight_split: f64,
    },
    /// Gaussian naive Bayes.
    NaiveBayes {
        /// Variance smoothing.
        var_smoothing: f64,
    },
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Model::Logistic {
                alpha,
                max_iterations,
            } => {
                write!(
                    f,
                    "logistic(alpha={alpha}, max_iterations={max_iterations})"
                )
            }
            Model::Tree {
                max_depth,
                min_weight_split,
            } => match max_depth {
                Some(d) => write!(
                    f,
                    "tree(max_depth={d}, min_weight_split={min_weight_split})"
                ),
                None => write!(
                    f,
                    "tree(max_depth=none, min_weight_split={min_weight_split})"
                ),
            },
            Model::NaiveBayes { var_smoothing } => {
                write!(f, "naive_bayes(var_smoothing={var_smoothing:e})")
            }
        }
    }
}

impl Model {
    /// Refuse hyperparameters the libraries would reject or misuse, naming
    /// the parameter.
    fn validate(&self) -> Result<(), String> {
        let bad = |name: &str, value: String, why: &str| {
            Err(format!("invalid hyperparameter {name}={value}: {why}"))
        };
        match self {
            Model::Logistic {
                alpha,
                max_iterations,
            } => {
                if !(alpha.is_finite() && *alpha >= 0.0) {
                    return bad("alpha", alpha.to_string(), "must be a finite number >= 0");
                }
                if *max_iterations == 0 {
                    return bad("max_iterations", "0".into(), "must be at least 1");
                }
            }
            Model::Tree {
                max_depth,
                min_weight_split,
            } => {
                if *max_depth == Some(0) {
                    return bad("max_depth", "0".into(), "must be at least 1 (or none)");
                }
                if !(min_weight_split.is_finite() && *min_weight_split >= 0.0) {
                    return bad(
                        "min_weight_split",
                        min_weight_split.to_string(),
                        "must be >= 0",
                    );
                }
            }
            Model::NaiveBayes { var_smoothing } => {
                if !(var_smoothing.is_finite() && *var_smoothing >= 0.0) {
                    return bad("var_smoothing", var_smoothing.to_string(), "must be >= 0");
                }
            }
        }
        Ok(())
    }

    fn fit_predict(
        &self,
        train: &Dataset<f64, usize, Ix1>,
        test: &Array2<f64>,
    ) -> Result<Array1<usize>, String> {
        self.validate()?;
        let err = |e: &dyn std::fmt::Display| format!("{self}: {e}");
        Ok(match self {
            Model::Logistic {
                alpha,
                max_iterations,
            } => MultiLogisticRegression::default()
                .alpha(*alpha)
                .max_iterations(*max_iterations)
                .fit(train)
                .map_err(|e| err(&e))?
                .predict(test),
            Model::Tree {
                max_depth,
                min_weight_split,
            } => DecisionTree::params()
                .max_depth(max_depth.map(|d| d as usize))
                .min_weight_split(*min_weight_split as f32)
                .fit(train)
                .map_err(|e| err(&e))?
                .predict(test),
            Model::NaiveBayes { var_smoothing } => GaussianNb::params()
                .var_smoothing(*var_smoothing)
                .fit(train)
                .map_err(|e| err(&e))?
                .predict(test),
        })
    }
}

/// The score of one model on one fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldScore {
    /// The fold held out.
    pub fold: u32,
    /// Fraction of the fold predicted right.
    pub accuracy: f64,
    /// Precision per class (NaN where nothing was predicted as the class).
    pub precision: Vec<f64>,
    /// Recall per class (NaN where the fold has no sample of the class).
    pub recall: Vec<f64>,
}

/// Train `model` on every fold but `fold` and score it on `fold`.
fn score(data: &Data, fold: u32, model: &Model) -> Result<FoldScore, String> {
    let (train, x_test, y_test) = data.split(fold as u8);
    if y_test.is_empty() {
        return Err(format!("fold {fold} is empty"));
    }
    let pred = model.fit_predict(&train, &x_test)?;
    let k = data.n_classes as usize;
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in y_test.iter().zip(pred.iter()) {
        confusion[t][p.min(k - 1)] += 1;
    }
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            f64::NAN
        } else {
            num as f64 / den as f64
        }
    };
    Ok(FoldScore {
        fold,
        accuracy: correct as f64 / y_test.len() as f64,
        precision: (0..k)
            .map(|c| ratio(confusion[c][c], (0..k).map(|t| confusion[t][c]).sum()))
            .collect(),
        recall: (0..k)
            .map(|c| ratio(confusion[c][c], confusion[c].iter().sum()))
            .collect(),
    })
}

/// The lab's dataset: Iris with scikit-learn's folds (or random ones
/// from `seed`). Other modules call it by name (`task4/dataset`), as
/// the Python driver `task4.py` does.
#[remote]
pub fn dataset(seed: Option<u64>) -> Data {
    iris(seed.map(|s| random_folds(150, K as usize, s)))
}

/// Score `model` on one fold of the shared dataset, and report the
/// accuracy to `board` if given (waiting until it is recorded).
#[remote]
pub fn evaluate(
    data: Data,
    fold: u32,
    model: Model,
    board: Option<ActorHandle<Leaderboard>>,
) -> Result<FoldScore, String> {
    let s = score(&data, fold, &model)?;
    if let Some(board) = board {
        board
            .report(model, fold, s.accuracy)
            .get()
            .map_err(|e| format!("reporting to the leaderboard: {e}"))?;
    }
    Ok(s)
}

/// A model's standing on the leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    /// The model.
    pub model: Model,
    /// Mean accuracy over the folds.
    pub mean: f64,
    /// Standard deviation of the accuracy over the folds.
    pub std: f64,
}

/// Collects the fold scores of a model search as they come in and
/// ranks the models.
pub struct Leaderboard {
    models: Vec<Model>,
    accuracy: Vec<Vec<Option<f64>>>,
    reports: u32,
}

#[actor]
impl Leaderboard {
    /// A board for `models` (ties rank in this order), `folds` each.
    pub fn new(models: Vec<Model>, folds: u32) -> Self {
        let accuracy = vec![vec![None; folds as usize]; models.len()];
        Leaderboard {
            models,
            accuracy,
            reports: 0,
        }
    }
    /// Record `model`'s accuracy on `fold`; the number of reports so far.
    pub fn report(&mut self, model: Model, fold: u32, accuracy: f64) -> Result<u32, String> {
        let m = self
            .models
            .iter()
            .position(|x| *x == model)
            .ok_or_else(|| format!("{model} is not on the leaderboard"))?;
        let slot = self.accuracy[m]
            .get_mut(fold as usize)
            .ok_or_else(|| format!("no fold {fold}"))?;
        if slot.replace(accuracy).is_some() {
            return Err(format!("{model} on fold {fold} reported twice"));
        }
        self.reports += 1;
        Ok(self.reports)
    }
    /// The number of reports.
    pub fn reports(&self) -> u32 {
        self.reports
    }
    /// The `n` best models with every fold scored, best mean first.
    pub fn top(&self, n: u32) -> Vec<Standing> {
        let mut board: Vec<Standing> = self
            .models
            .iter()
            .zip(&self.accuracy)
            .filter_map(|(model, accs)| {
                let accs: Option<Vec<f64>> = accs.iter().copied().collect();
                let (mean, std) = mean_std(&accs?);
                Some(Standing {
                    model: model.clone(),
                    mean,
                    std,
                })
            })
            .collect();
        board.sort_by(|a, b| b.mean.total_cmp(&a.mean));
        board.truncate(n as usize);
        board
    }
}

tasks!(dataset, evaluate, Leaderboard);

/// KFold with shuffling: a seeded permutation cut into `k` contiguous
/// parts, the first `n % k` one longer (scikit-learn's sizes).
fn random_folds(n: usize, k: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let mut folds = vec![0u8; n];
    let mut start = 0;
    for f in 0..k {
        let len = n / k + usize::from(f < n % k);
        for &i in &order[start..start + len] {
            folds[i] = f as u8;
        }
        start += len;
    }
    folds
}

fn iris(folds: Option<Vec<u8>>) -> Data {
    let ds = linfa_datasets::iris();
    let mut x = ds.records().to_owned();
    // The UCI file's errata, corrected as in scikit-learn's copy.
    x[[34, 3]] = 0.2;
    x[[37, 1]] = 3.6;
    x[[37, 2]] = 1.4;
    let labels: PackedVec<u32> = ds.targets().iter().map(|&l| l as u32).collect();
    let folds = folds.unwrap_or_else(|| {
        let mut f = vec![0u8; labels.len()];
        for (fold, test) in SKLEARN_FOLDS.iter().enumerate() {
            for &i in test {
                f[i as usize] = fold as u8;
            }
        }
        f
    });
    Data {
        n_features: x.ncols() as u32,
        n_classes: 3,
        features: x.iter().copied().collect(),
        labels,
        folds: PackedVec(folds),
    }
}

/// Gaussian blobs: `n` samples, `f` features, `k` classes, overlapping
/// enough that the models differ.
fn synthetic(n: usize, f: usize, k: usize, seed: u64, folds: usize) -> Data {
    let mut rng = SplitMix64::new(seed);
    let centers: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..f).map(|_| rng.normal() * 1.5).collect())
        .collect();
    let mut features = Vec::with_capacity(n * f);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % k;
        labels.push(c as u32);
        features.extend(centers[c].iter().map(|m| m + rng.normal() * 2.0));
    }
    Data {
        n_features: f as u32,
        n_classes: k as u32,
        features: PackedVec(features),
        labels: PackedVec(labels),
        folds: PackedVec(random_folds(n, folds, seed ^ 0x5eed)),
    }
}

struct Options {
    model: String,
    params: Vec<(String, String)>,
    seed: Option<u64>,
    search: bool,
    synthetic: Option<usize>,
    sequential: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        model: "lr".into(),
        params: Vec::new(),
        seed: None,
        search: false,
        synthetic: None,
        sequential: true,
    };
    Flags::new(
        "task4 [--model lr|tree|nb] [--param NAME=VALUE]... [--seed N] [--search] [--synthetic N] [--no-sequential]",
    )
    .value("--model", &mut o.model)
    .pairs("--param", &mut o.params)
    .optional("--seed", &mut o.seed)
    .set("--search", &mut o.search, true)
    .optional("--synthetic", &mut o.synthetic)
    .set("--no-sequential", &mut o.sequential, false)
    .parse_env()?;
    Ok(o)
}

fn model_from(name: &str, params: &[(String, String)]) -> Result<Model, String> {
    let num = |k: &str, v: &str| {
        v.parse::<f64>()
            .map_err(|_| format!("invalid hyperparameter {k}={v}: not a number"))
    };
    let mut m = match name {
        "lr" | "logistic" => Model::Logistic {
            alpha: 1.0,
            max_iterations: 200,
        },
        "tree" => Model::Tree {
            max_depth: None,
            min_weight_split: 2.0,
        },
        "nb" | "naive_bayes" => Model::NaiveBayes {
            var_smoothing: 1e-9,
        },
        other => return Err(format!("unknown model `{other}` (lr, tree, nb)")),
    };
    for (k, v) in params {
        match (&mut m, k.as_str()) {
            (Model::Logistic { alpha, .. }, "alpha") => *alpha = num(k, v)?,
            (Model::Logistic { max_iterations, .. }, "max_iterations") => {
                *max_iterations = num(k, v)? as u64;
            }
            (Model::Tree { max_depth, .. }, "max_depth") => {
                *max_depth = if v == "none" {
                    None
                } else {
                    Some(num(k, v)? as u32)
                };
            }
            (
                Model::Tree {
                    min_weight_split, ..
                },
                "min_weight_split",
            ) => *min_weight_split = num(k, v)?,
            (Model::NaiveBayes { var_smoothing }, "var_smoothing") => *var_smoothing = num(k, v)?,
            _ => {
                return Err(format!(
                    "invalid hyperparameter {k}: model `{name}` has no such parameter"
                ));
            }
        }
    }
    Ok(m)
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
    (mean, var.sqrt())
}

fn fmt_pct(xs: &[f64]) -> String {
    xs.iter()
        .map(|x| {
            if x.is_nan() {
                "  -  ".into()
            } else {
                format!("{x:.3}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const K: u32 = 5;

fn cross_validate(
    data: &Data,
    model: &Model,
    o: &Options,
    reference: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let data_ref = put(data)?;
    let refs: Vec<_> = (0..K)
        .map(|fold| evaluate::remote(&data_ref, fold, model.clone(), None))
        .collect();
    let scores = get_all(&refs)?;
    let t_par = start.elapsed().as_secs_f64();

    println!(
        "{:<6} {:>9} {:>9}  {:<23} {:<23}",
        "fold", "accuracy", "sklearn", "precision per class", "recall per class"
    );
    for s in &scores {
        let sk = if reference {
            format!("{:.4}", SKLEARN_ACCURACY[s.fold as usize])
        } else {
            "-".into()
        };
        println!(
            "{:<6} {:>9.4} {:>9}  {:<23} {:<23}",
            s.fold,
            s.accuracy,
            sk,
            fmt_pct(&s.precision),
            fmt_pct(&s.recall)
        );
    }
    let accs: Vec<f64> = scores.iter().map(|s| s.accuracy).collect();
    let (mean, std) = mean_std(&accs);
    println!("mean accuracy: {mean:.4} ± {std:.4}");
    if reference {
        let (sm, ss) = mean_std(&SKLEARN_ACCURACY);
        println!("sklearn LogisticRegression(max_iter=200) on the same folds: {sm:.4} ± {ss:.4}");
    }
    println!(
        "parallel time: {:.1} ms ({} fold tasks)",
        t_par * 1e3,
        refs.len()
    );
    if o.sequential {
        let start = Instant::now();
        let seq: Vec<FoldScore> = (0..K)
            .map(|fold| score(data, fold, model))
            .collect::<Result<_, _>>()?;
        let t_seq = start.elapsed().as_secs_f64();
        if seq == scores {
            println!("sequential time: {:.1} ms (same scores: yes)", t_seq * 1e3);
        } else if matches!(model, Model::Tree { .. }) {
            // linfa-trees sums class weights and breaks ties between
            // classes in `HashMap` order, and each `HashMap` of a process
            // gets its own hash keys (the n-th one made gets key n): the
            // driver has made others before these folds, a fresh task has
            // not, so a tie may fall the other way. Each run gives the same
            // scores (raylab seeds hash maps per job), natively each run
            // may differ. The other models are deterministic and checked.
            println!(
                "sequential time: {:.1} ms (same scores: no, a tie broken in hash-map order \
                 inside linfa-trees)",
                t_seq * 1e3
            );
        } else {
            return Err("sequential scores differ from the parallel ones".into());
        }
    }
    Ok(())
}

fn search_grid() -> Vec<Model> {
    let mut grid = Vec::new();
    for alpha in [0.01, 0.1, 1.0] {
        grid.push(Model::Logistic {
            alpha,
            max_iterations: 200,
        });
    }
    for max_depth in [Some(2), Some(3), Some(5), None] {
        grid.push(Model::Tree {
            max_depth,
            min_weight_split: 2.0,
        });
    }
    for var_smoothing in [1e-9, 1e-3] {
        grid.push(Model::NaiveBayes { var_smoothing });
    }
    grid
}

fn model_search(data: &Data, o: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let grid = search_grid();
    let start = Instant::now();
    let data_ref = put(data)?;
    let board = Leaderboard::remote(grid.clone(), K);
    let refs: Vec<Vec<_>> = grid
        .iter()
        .map(|m| {
            (0..K)
                .map(|fold| evaluate::remote(&data_ref, fold, m.clone(), Some(board.clone())))
                .collect()
        })
        .collect();
    let mut ranked = Vec::new();
    for (m, r) in grid.iter().zip(&refs) {
        let accs: Vec<f64> = get_all(r)?.iter().map(|s| s.accuracy).collect();
        ranked.push((m, mean_std(&accs), accs));
    }
    let t_par = start.elapsed().as_secs_f64();
    ranked.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    println!(
        "model search: {} models x {K} folds = {} tasks",
        grid.len(),
        grid.len() * K as usize
    );
    println!("{:<4} {:<48} {:>8} {:>8}", "rank", "model", "mean", "std");
    for (i, (m, (mean, std), _)) in ranked.iter().enumerate() {
        println!(
            "{:<4} {:<48} {:>8.4} {:>8.4}",
            i + 1,
            m.to_string(),
            mean,
            std
        );
    }
    println!("parallel time: {:.1} ms", t_par * 1e3);
    // Every evaluate task has reported (each waited for its report).
    const TOP: usize = 3;
    let reports = board.reports().get()?;
    let top = board.top(TOP as u32).get()?;
    println!("leaderboard actor: {reports} reports, top {TOP}:");
    for (i, s) in top.iter().enumerate() {
        println!(
            "  #{:<2} {:<48} {:>8.4} {:>8.4}",
            i + 1,
            s.model.to_string(),
            s.mean,
            s.std
        );
    }
    let agrees = reports as usize == grid.len() * K as usize
        && top.len() == TOP.min(ranked.len())
        && top
            .iter()
            .zip(&ranked)
            .all(|(s, (m, (mean, std), _))| s.model == **m && s.mean == *mean && s.std == *std);
    if !agrees {
        return Err("the leaderboard actor's ranking differs from the results'".into());
    }
    println!("leaderboard agrees with the ranking: yes");
    if o.sequential {
        let start = Instant::now();
        for m in &grid {
            for fold in 0..K {
                score(data, fold, m)?;
            }
        }
        let t_seq = start.elapsed().as_secs_f64();
        println!("sequential time: {:.1} ms", t_seq * 1e3);
        println!("speedup: {:.2}x", t_seq / t_par);
    }
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let o = parse_args()?;
    let (data, what) = match o.synthetic {
        Some(n) => (
            synthetic(n, 16, 3, o.seed.unwrap_or(42), K as usize),
            format!("synthetic: {n} samples, 16 features, 3 classes"),
        ),
        None => {
            let folds = o.seed.map(|s| random_folds(150, K as usize, s));
            let what = match o.seed {
                Some(s) => format!("Iris, random folds (seed {s})"),
                None => "Iris, scikit-learn's KFold(5, shuffle=True, random_state=42) folds".into(),
            };
            (iris(folds), what)
        }
    };
    // The folds partition the data: every sample in exactly one fold.
    let sizes: Vec<usize> = (0..K as u8)
        .map(|f| data.folds.iter().filter(|&&x| x == f).count())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), data.n_samples());
    assert!(data.folds.iter().all(|&f| (f as u32) < K));
    println!("Task 4: {K}-fold cross-validation, {what}");
    println!(
        "fold sizes: {sizes:?} (a partition of {} samples)",
        data.n_samples()
    );

    if o.search {
        return model_search(&data, &o);
    }
    let model = model_from(&o.model, &o.params)?;
    println!("model: {model}");
    let reference = o.synthetic.is_none() && o.seed.is_none() && model == model_from("lr", &[])?;
    cross_validate(&data, &model, &o, reference)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
