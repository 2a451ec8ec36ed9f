//! Adam with PyTorch's defaults and exactly torch's single-tensor update (`torch/optim/adam.py`,
//! `_single_tensor_adam`, no weight decay, no amsgrad), in `float32` with `float64` scalars:
//!
//! ```text
//! m = m + (1 - beta1) * (g - m)                       # exp_avg.lerp_(grad, 1 - beta1)
//! v = v * beta2 + ((1 - beta2) * g) * g                # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
//! denom = sqrt(v) / sqrt(1 - beta2^t) + eps            # (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
//! p = p + (-(lr / (1 - beta1^t)) * m) / denom           # param.addcdiv_(exp_avg, denom, value=-step_size)
//! ```
//! The scalars are computed in `float64` as Python does and rounded to `float32` where torch converts
//! them; no fused multiply-add, as in torch's default CPU capability (ReCodEx mode).

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::isa::{Isa, vectorized};
pub use crate::matmul::adam_avx512::RootSplit;
use crate::matmul::adam_avx512::{self, update_fused};

/// Adam's hyperparameters; [`Default`] gives `torch.optim.Adam`'s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (1e-3).
    pub lr: f64,
    /// First-moment decay (0.9).
    pub beta1: f64,
    /// Second-moment decay (0.999).
    pub beta2: f64,
    /// Denominator term (1e-8).
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam's state for one flat parameter vector.
#[derive(Clone, Debug)]
pub struct Adam {
    config: AdamConfig,
    step: u64,
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    /// The parameters with a tiny `exp_avg` (see [`SetAside`]).
    set_aside: SetAside,
    /// The parameters left out of the pass while their gradient stays zero (see [`Parked`]).
    parked: Parked,
    /// The instruction set the vectorised pass is compiled for (same bits for every one).
    isa: Isa,
    /// How the pass divides by the bias correction (same bits either way).
    division: Division,
    /// Which square roots the AVX-512 loop computes without the divider (same bits either way),
    /// and the trial that picks it when not given ([`Adam::with_root_split`]).
    root_split: RootSplit,
    root_trial: Option<RootTrial>,
    /// Whether tiny moments are set aside (same bits either way).
    tiny_moments: TinyMoments,
    /// The timing of both ways for [`TinyMoments::Timed`].
    trial: Trial,
    /// Whether parameters may be parked ([`Adam::with_parking`], [`Parked`]; the same bits).
    parking: bool,
    /// Whether the configuration allows parking: `0 <= beta1, beta2 < 1`, a positive finite
    /// `eps` and a finite `lr` (so that `|lr / bias_correction1|` only shrinks and the
    /// denominator is at least `eps`).
    parkable: bool,
    /// Steps between sweeps for parameters to park ([`PARK_PERIOD`]; tests sweep more often).
    park_period: u64,
}

/// What a step does with the parameters whose `exp_avg` is tiny (non-zero, below 2^-100: a dead
/// relu unit's weights decay into the subnormals): the same bits either way (tested), so only a
/// speed question, whose answer depends on the CPU and on the values. On x86 CPUs whose microcode
/// assists cost ~100 cycles per subnormal operation, setting them aside wins by far; on Zen 5,
/// leaving them in the pass was faster in real training (three relu layers: Adam 43 -> 31 ms per
/// epoch) but slower on a synthetic pattern (`adam_bench`, 1,187 scattered: 26.9 -> 35.2 ms).
/// With parking ([`Adam::with_parking`], the default) a tiny moment whose gradient stays zero leaves
/// the pass within [`PARK_PERIOD`] steps, before it could reach the subnormals; this choice is then
/// about the few others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TinyMoments {
    /// Set them aside before the vectorised pass and update them apart, so that the pass meets
    /// no subnormal.
    SetAside,
    /// Leave them in the pass, whose float32 operations then meet their subnormals.
    InPass,
    /// Time both ways on the real steps now and then ([`TRIAL_STEPS`] steps each, every
    /// [`TRIAL_PERIOD`] steps or up to 8 times less often while one way keeps winning by far) and
    /// use the faster in between. The default.
    Timed,
}

/// Steps each way in one trial of [`TinyMoments::Timed`] (alternating).
pub const TRIAL_STEPS: u64 = 8;
/// Steps from one trial of [`TinyMoments::Timed`] to the next, at the least.
pub const TRIAL_PERIOD: u64 = 256;

/// The state of [`TinyMoments::Timed`].
#[derive(Clone, Copy, Debug)]
struct Trial {
    /// Steps until the next trial; 0 while one runs.
    wait: u64,
    /// Steps between trials: [`TRIAL_PERIOD`], doubled after each trial one way won by far.
    period: u64,
    /// Steps of the running trial so far, and the shortest step each way (set aside, in the
    /// pass): a minimum, so that an interrupt during one step does not decide.
    done: u64,
    time: [Duration; 2],
    /// The way used between trials.
    set_aside: bool,
}

impl Default for Trial {
    fn default() -> Self {
        Trial {
            wait: 0,
            period: TRIAL_PERIOD,
            done: 0,
            time: [Duration::MAX; 2],
            set_aside: true,
        }
    }
}

impl Trial {
    /// Whether the next step sets aside, and whether it is a trial step (to be timed and
    /// [`Trial::record`]ed).
    fn next(&mut self) -> (bool, bool) {
        if self.wait > 0 {
            self.wait -= 1;
            (self.set_aside, false)
        } else {
            (self.done.is_multiple_of(2), true)
        }
    }

    /// Records a trial step's time; after the last one, picks the faster way and the wait.
    fn record(&mut self, set_aside: bool, elapsed: Duration) {
        let best = &mut self.time[usize::from(!set_aside)];
        *best = (*best).min(elapsed);
        self.done += 1;
        if self.done < 2 * TRIAL_STEPS {
            return;
        }
        let [aside, in_pass] = self.time;
        self.set_aside = aside <= in_pass;
        let (fast, slow) = (aside.min(in_pass), aside.max(in_pass));
        // By far: the slower way took half as long again; then trials thin out (trying the slow
        // way costs most where it is slowest), else they come back to every TRIAL_PERIOD steps.
        self.period = if slow > fast * 3 / 2 {
            (self.period * 2).min(8 * TRIAL_PERIOD)
        } else {
            TRIAL_PERIOD
        };
        self.wait = self.period;
        self.done = 0;
        self.time = [Duration::MAX; 2];
    }
}

/// How the update computes `sqrt(v) / bias_correction2_sqrt`: both give float32 division's bits
/// (tested), which one is faster depends on the CPU. A float32 divide is cheap on Zen 5 (Adam's
/// loop 25.5 -> 18 ms per epoch against the other form); where divides are dear, multiplying by
/// the float64 reciprocal saves one per parameter. [`Division::fastest`] measures both. With the
/// default `beta2`, most steps use neither: a multiplication and a fused multiply-add give the
/// division's bits there (each step's bias correction checked against every dividend), and the
/// choice only applies to the other steps (and to every step of another `beta2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Division {
    /// A float32 division by the float32 bias correction.
    Float32,
    /// A float64 multiplication by the float64 reciprocal of the float32 bias correction, rounded
    /// to float32: the same bits, since a quotient of two floats is never a float32 rounding
    /// midpoint and stays at least 2^-49 (relative) away from one, while this product is within
    /// 2^-52 of it.
    Reciprocal,
}

impl Division {
    /// The faster form for the update loop compiled for `isa` on this CPU, timed once per process
    /// and instruction set (about a millisecond): 8 passes of each over 4,096 parameters, the
    /// better of three alternating rounds.
    pub fn fastest(isa: Isa) -> Division {
        static FASTEST: [OnceLock<Division>; 4] = [const { OnceLock::new() }; 4];
        let slot = match isa {
            Isa::Baseline => 0,
            Isa::Avx2Fma => 1,
            Isa::Avx512 => 2,
            Isa::Neon => 3,
        };
        *FASTEST[slot].get_or_init(|| Self::measure(isa))
    }

    fn measure(isa: Isa) -> Division {
        const N: usize = 4096;
        // The two forms are timed, not the fused division that replaces both where it can.
        let s = Scalars {
            fused: false,
            ..Scalars::new(AdamConfig::default(), 10)
        };
        let grads: Vec<f32> = (0..N).map(|i| (i % 97) as f32 * 1e-3 - 0.05).collect();
        let mut params: Vec<f32> = (0..N).map(|i| (i % 89) as f32 * 1e-2 - 0.4).collect();
        let (mut m, mut v) = (vec![1e-3f32; N], vec![1e-6f32; N]);
        let mut tiny = vec![0u32; N / LANES];
        let mut time = |division: Division| {
            let start = Instant::now();
            for _ in 0..8 {
                run_pass(
                    isa,
                    division,
                    RootSplit::Divider,
                    &s,
                    &mut params,
                    &grads,
                    &mut m,
                    &mut v,
                    Some(&mut tiny),
                );
            }
            start.elapsed()
        };
        let (mut f32_best, mut reciprocal_best) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            f32_best = f32_best.min(time(Division::Float32));
            reciprocal_best = reciprocal_best.min(time(Division::Reciprocal));
        }
        if f32_best <= reciprocal_best {
            Division::Float32
        } else {
            Division::Reciprocal
        }
    }
}

/// The first step of [`Adam`]'s trial of the [`RootSplit`]s: past the first steps, whose state
/// differs (on the Xeon the divider won at steps 4-28 and lost from step 64 on, in `adam_bench`).
const ROOT_TRIAL_START: u64 = 64;
/// Steps each [`RootSplit`] is timed in the trial (in turn).
const ROOT_TRIAL_STEPS: u32 = 8;

/// The timing of the three [`RootSplit`]s on the first steps that run the AVX-512 loop.
#[derive(Clone, Copy, Debug)]
struct RootTrial {
    /// Trial steps so far, and the shortest pass of each split.
    done: u32,
    best: [Duration; 3],
}

impl RootTrial {
    const SPLITS: [RootSplit; 3] = [
        RootSplit::Divider,
        RootSplit::Alternate,
        RootSplit::Emulated,
    ];

    fn new() -> RootTrial {
        RootTrial {
            done: 0,
            best: [Duration::MAX; 3],
        }
    }

    /// The split of the next trial step.
    fn next(&self) -> usize {
        self.done as usize % 3
    }

    /// Records a trial step's pass; after the last one, the fastest split (the first of equals).
    fn record(&mut self, which: usize, elapsed: Duration) -> Option<RootSplit> {
        self.best[which] = self.best[which].min(elapsed);
        self.done += 1;
        (self.done >= 3 * ROOT_TRIAL_STEPS).then(|| {
            let fastest = (0..3).min_by_key(|&i| self.best[i]).unwrap_or(0);
            Self::SPLITS[fastest]
        })
    }
}

impl Adam {
    /// Zero moments for `params` parameters.
    pub fn new(config: AdamConfig, params: usize) -> Self {
        Self {
            config,
            step: 0,
            exp_avg: vec![0.0; params],
            exp_avg_sq: vec![0.0; params],
            set_aside: SetAside::default(),
            parked: Parked::default(),
            isa: Isa::detect(),
            division: Division::fastest(Isa::detect()),
            root_split: RootSplit::Divider,
            root_trial: Some(RootTrial::new()),
            tiny_moments: TinyMoments::Timed,
            trial: Trial::default(),
            parkable: (0.0..1.0).contains(&config.beta1)
                && (0.0..1.0).contains(&config.beta2)
                && (config.eps as f32) > 0.0
                && (config.eps as f32).is_finite()
                && config.lr.is_finite(),
            park_period: PARK_PERIOD,
            parking: true,
        }
    }

    /// Treats tiny moments as `tiny_moments` says (the results do not change).
    pub fn with_tiny_moments(mut self, tiny_moments: TinyMoments) -> Self {
        self.tiny_moments = tiny_moments;
        self
    }

    /// How this optimiser treats tiny moments.
    pub fn tiny_moments(&self) -> TinyMoments {
        self.tiny_moments
    }

    /// Compiles the update loop for `isa`'s vector width (the results do not change; an
    /// instruction set this CPU lacks runs the portable loop).
    pub fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = isa;
        self.division = Division::fastest(isa);
        self
    }

    /// Computes the square roots of the AVX-512 loop as `root_split` says (the results do not
    /// change; other instruction sets ignore it). Without it, steps 64 to 87 (those that run
    /// that loop) time each split in turn, eight passes each, and the fastest is kept: whether the
    /// divider bounds the loop depends on the CPU (Emerald Rapids: 12 cycles per 16 roots; moving
    /// every other root to the other ports made `adam_bench`'s loop 10-15% faster, a relu epoch's
    /// Adam about 3%) and on where the state is cached.
    pub fn with_root_split(mut self, root_split: RootSplit) -> Self {
        self.root_split = root_split;
        self.root_trial = None;
        self
    }

    /// Which square roots the AVX-512 loop computes without the divider: the given split, or
    /// the one the trial picked ([`RootSplit::Divider`] before it ends).
    pub fn root_split(&self) -> RootSplit {
        self.root_split
    }

    /// Divides by the bias correction as `division` says (the results do not change).
    pub fn with_division(mut self, division: Division) -> Self {
        self.division = division;
        self
    }

    /// How this optimiser divides by the bias correction.
    pub fn division(&self) -> Division {
        self.division
    }

    /// The hyperparameters.
    pub fn config(&self) -> AdamConfig {
        self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The first moments (`exp_avg`); a copy when some are parked (see [`Adam::with_parking`]).
    pub fn exp_avg(&self) -> Cow<'_, [f32]> {
        if self.parked.index.is_empty() {
            return Cow::Borrowed(&self.exp_avg);
        }
        let mut m = self.exp_avg.clone();
        for (&i, &value) in self.parked.index.iter().zip(&self.parked.m) {
            m[i] = value;
        }
        Cow::Owned(m)
    }

    /// Parks parameters whose gradient stays zero with a tiny `exp_avg`, or not (unparking any
    /// parked now): the same bits either way (tested); the default is to park.
    ///
    /// A dead relu unit's weights (or those of a pixel that is zero in every batch) get a zero
    /// gradient on every step, and their `exp_avg` decays into the subnormals, where the vectorised
    /// update's float32 operations are slow on every later step. A parked parameter is left out
    /// of them while its gradient stays zero and its value is one no tiny moment can move: its
    /// `exp_avg` is kept apart and decayed exactly in float64, its `exp_avg_sq` and value come
    /// out of the update as they would. A step with a gradient (or a value changed by the
    /// caller) unparks it first.
    pub fn with_parking(mut self, parking: bool) -> Self {
        if !parking {
            self.unpark_all();
        }
        self.parking = parking;
        self
    }

    /// Unparks every parked parameter (their `exp_avg` back in place).
    pub(crate) fn unpark_all(&mut self) {
        for (&i, &m) in self.parked.index.iter().zip(&self.parked.m) {
            self.exp_avg[i] = m;
        }
        self.parked = Parked::default();
    }

    /// How many parameters are parked now (see [`Adam::with_parking`]).
    pub fn parked(&self) -> usize {
        self.parked.index.len()
    }

    /// The second moments (`exp_avg_sq`).
    pub fn exp_avg_sq(&self) -> &[f32] {
        &self.exp_avg_sq
    }

    /// One update of `params` with `grads`.
    ///
    /// # Panics
    /// If the lengths differ from the one given to [`Adam::new`].
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.step_checked::<true>(params, grads);
    }

    /// [`Adam::step`] for a caller that passes the parameters exactly as the previous step left
    /// them (the trainer, which lends its model out only to be read): the parked parameters'
    /// values are not checked for changes.
    pub(crate) fn step_unchanged(&mut self, params: &mut [f32], grads: &[f32]) {
        self.step_checked::<false>(params, grads);
    }

    /// [`Adam::step`], checking whether parked parameters' values changed with `CHANGED`.
    fn step_checked<const CHANGED: bool>(&mut self, params: &mut [f32], grads: &[f32]) {
        assert_eq!(
            params.len(),
            self.exp_avg.len(),
            "Adam: parameter count changed"
        );
        assert_eq!(
            grads.len(),
            self.exp_avg.len(),
            "Adam: gradient count differs"
        );
        self.step += 1;
        let s = Scalars::new(self.config, self.step);
        let (set_aside, timed) = match self.tiny_moments {
            TinyMoments::SetAside => (true, false),
            TinyMoments::InPass => (false, false),
            TinyMoments::Timed => self.trial.next(),
        };
        let start = timed.then(Instant::now);
        let (m, v, aside) = (&mut self.exp_avg, &mut self.exp_avg_sq, &mut self.set_aside);
        // The pass marks the tiny moments for the next step when this one sets aside (the next
        // one probably does too) and in trials (so that both ways do the same work). Marks left
        // from an older step only cost speed: a parameter set aside that is no longer tiny is
        // updated apart all the same, and a tiny one left unmarked is updated by the pass.
        // A sweep for parameters to park reads the marks of this step.
        let sweep = self.step.is_multiple_of(self.park_period)
            && self.parking
            && self.parkable
            && s.small_weight;
        let marks = set_aside || timed || sweep;
        self.parked.unpark_changed::<CHANGED>(params, grads, m);
        aside.take(params, m, v, set_aside);
        // The root split's trial: on steps that run the AVX-512 loop (fused, AVX-512 here).
        let trial = self.root_trial.as_ref().and_then(|t| {
            let runs = s.fused && adam_avx512::runs(self.isa);
            (runs && self.step >= ROOT_TRIAL_START).then(|| t.next())
        });
        let split = trial.map_or(self.root_split, |i| RootTrial::SPLITS[i]);
        let pass_start = trial.map(|_| Instant::now());
        run_pass(
            self.isa,
            self.division,
            split,
            &s,
            params,
            grads,
            m,
            v,
            marks.then_some(&mut aside.tiny[..]),
        );
        if let (Some(i), Some(start), Some(t)) = (trial, pass_start, self.root_trial.as_mut())
            && let Some(fastest) = t.record(i, start.elapsed())
        {
            self.root_split = fastest;
            self.root_trial = None;
        }
        if !aside.index.is_empty() {
            vectorized(
                self.isa,
                #[inline(always)]
                || finish_set_aside(&s, params, grads, m, v, aside),
            );
        }
        if let Some(start) = start {
            self.trial.record(set_aside, start.elapsed());
        }
        if !self.parked.m.is_empty() {
            self.parked.decay(self.isa, s.w1);
        }
        if sweep {
            self.parked
                .sweep(&s, params, grads, m, v, &self.set_aside.tiny);
        }
    }
}

/// Parameters updated together: one 512-bit vector of `f32`.
const LANES: usize = 16;

/// The parameters with a tiny `exp_avg` ([`is_tiny`]): found by one step, set aside by the next.
///
/// Subnormal operands or results cost a microcode assist of ~100 cycles per operation on x86.
/// They arise when a gradient stays exactly zero (dead relu units, pixels that are zero in every
/// image): `exp_avg` then decays by 0.9 per step through the tiny normals (whose products with the
/// step size are subnormal) into the subnormals, and stays at the smallest one. Before the
/// vectorised [`pass`], such a parameter's `(p, m, v)` is saved and its `exp_avg` zeroed, so the
/// pass meets no subnormal; [`finish_set_aside`] then computes its update from the saved values.
/// Whether a step does so is [`TinyMoments`]' choice (the bits are the same).
/// The weights of a dead unit are a column of the `[in, out]` matrix, so the tiny values are
/// scattered: they are found from one bit mask per group of [`LANES`] parameters, which the pass
/// writes without a branch.
#[derive(Clone, Debug, Default)]
struct SetAside {
    /// Per group of [`LANES`] parameters (the last may be partial): bit `k` is set when the
    /// `exp_avg` of parameter `k` of the group was tiny after the last step.
    tiny: Vec<u32>,
    /// The set-aside parameters' indices and `(p, m, v)` before the step.
    index: Vec<usize>,
    p: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl SetAside {
    /// Sets aside the parameters marked tiny (saving them and zeroing their `exp_avg`), or none
    /// without `set_aside` (the pass then meets them).
    fn take(&mut self, params: &[f32], exp_avg: &mut [f32], exp_avg_sq: &[f32], set_aside: bool) {
        self.tiny.resize(params.len().div_ceil(LANES), 0);
        self.index.clear();
        self.p.clear();
        self.m.clear();
        self.v.clear();
        if !set_aside {
            return;
        }
        for i in marked(&self.tiny) {
            self.index.push(i);
            self.p.push(params[i]);
            self.m.push(exp_avg[i]);
            self.v.push(exp_avg_sq[i]);
            exp_avg[i] = 0.0;
        }
    }
}

/// The indices of the parameters marked in `tiny` (bit `k` of mask `g`: parameter
/// `g * LANES + k`), in order.
fn marked(tiny: &[u32]) -> impl Iterator<Item = usize> + '_ {
    tiny.iter().enumerate().flat_map(|(group, &mask)| {
        std::iter::successors(Some(mask).filter(|&m| m != 0), |&m| {
            Some(m & (m - 1)).filter(|&m| m != 0)
        })
        .map(move |m| group * LANES + m.trailing_zeros() as usize)
    })
}

/// Steps from one sweep for parameters to park to the next (see [`Adam::with_parking`]).
pub const PARK_PERIOD: u64 = 64;

/// The parameters whose gradient has stayed exactly zero since their `exp_avg` became tiny
/// ([`is_tiny`]): a dead relu unit's weights, a pixel that is zero in every batch. With a zero
/// gradient, `exp_avg` decays through the tiny normals and the subnormals until `w1 * m` rounds
/// to zero, and then stays (a few times 2^-149), and the pass's float32 operations on it are slow
/// from about 2^-116 on, for good (Zen 5: about 6 ns more per group of 16 parameters for a moment
/// of `3 * 2^-149`, 10 ns for one of `2^-139`; x86 CPUs with microcode assists far more). While the
/// gradient stays zero, such a parameter's update needs none of them:
/// - `exp_avg` becomes `m + w1 * (0 - m)` rounded as float32 does, which [`decay`] computes for all
///   parked parameters at once in float64 (exact, no subnormal float32 operation, vectorised);
/// - `p` stays as it is: when parked, `|lr / bias_correction1| * |m|` over `eps` is below a quarter
///   of its ulp, and on later steps `|m|` and `|lr / bias_correction1|` only shrink while the
///   denominator stays at least `eps`;
/// - `exp_avg_sq` becomes `v * beta2 + 0`, as the pass computes it for any `exp_avg`.
///
/// So a parked parameter's `exp_avg` is stored as +0, with which the pass keeps it at +0 and leaves
/// `p` as it is (`p` is normal, not zero), while its value is kept here, side by side with the
/// others (no scattered reads or writes on each step). A step that finds a parked parameter's
/// gradient not zero (checked before the pass) unparks it, restoring its `exp_avg`, and the pass
/// computes that step as always. [`Adam::exp_avg`] puts the parked values in. Found by a sweep
/// every [`PARK_PERIOD`] steps.
#[derive(Clone, Debug, Default)]
struct Parked {
    /// The parked parameters' indices, their `exp_avg`, and the bits of their `p` (which a
    /// caller could change between steps: a parameter whose `p` changed is unparked).
    index: Vec<usize>,
    m: Vec<f32>,
    p: Vec<u32>,
    /// How many of the first parked values are fixed points of [`decay`], which it skips (each
    /// sweep moves the settled ones to the front).
    settled: usize,
}

impl Parked {
    /// Before a step: unparks the parameters whose gradient is not zero or (with `CHANGED`)
    /// whose `p` is not the one they were parked with, so that the pass computes them.
    fn unpark_changed<const CHANGED: bool>(
        &mut self,
        params: &[f32],
        grads: &[f32],
        exp_avg: &mut [f32],
    ) {
        // Not zero when parameter i, parked with p bits `p`, changed.
        let changed = |i: usize, p: u32| {
            let moved = if CHANGED { params[i].to_bits() ^ p } else { 0 };
            (grads[i].to_bits() << 1) | moved
        };
        // One test for all (usually nothing changed), then the compaction.
        let any = (self.index.iter().zip(&self.p)).fold(0u32, |any, (&i, &p)| any | changed(i, p));
        if any == 0 {
            return;
        }
        let (mut kept, mut settled) = (0, 0);
        for k in 0..self.index.len() {
            let i = self.index[k];
            if changed(i, self.p[k]) != 0 {
                exp_avg[i] = self.m[k];
            } else {
                settled += usize::from(k < self.settled);
                (self.index[kept], self.m[kept], self.p[kept]) = (i, self.m[k], self.p[k]);
                kept += 1;
            }
        }
        self.index.truncate(kept);
        self.m.truncate(kept);
        self.p.truncate(kept);
        self.settled = settled;
    }

    /// After a step with lerp weight `w1`: every parked `exp_avg` one step on ([`decay`]), and
    /// the settled ones counted.
    fn decay(&mut self, isa: Isa, w1: f32) {
        let moving = &mut self.m[self.settled..];
        vectorized(
            isa,
            #[inline(always)]
            || decay(w1, moving),
        );
        while self.settled < self.m.len() && is_fixed_point(w1, self.m[self.settled]) {
            self.settled += 1;
        }
    }

    /// After a step with constants `s` (of the lerp form [`Scalars::small_weight`]), whose pass
    /// marked the tiny moments in `tiny` (a mask per group of [`LANES`]): parks the parameters
    /// with a tiny `exp_avg`, a zero gradient in this step (likely to stay zero), a normal `p`
    /// that no later step can change (see above) and a finite `v`. First moves the settled
    /// values to the front, for [`Parked::decay`] to skip.
    fn sweep(
        &mut self,
        s: &Scalars,
        params: &[f32],
        grads: &[f32],
        exp_avg: &mut [f32],
        exp_avg_sq: &[f32],
        tiny: &[u32],
    ) {
        for k in self.settled..self.m.len() {
            if is_fixed_point(s.w1, self.m[k]) {
                let j = self.settled;
                self.index.swap(j, k);
                self.m.swap(j, k);
                self.p.swap(j, k);
                self.settled += 1;
            }
        }
        let (neg_step, eps) = (f64::from(s.neg_step).abs(), f64::from(s.eps));
        let slack = f64::from_bits(0x36b0_0000_0000_0000); // 2^-148
        for i in marked(tiny) {
            let (m, p) = (exp_avg[i], params[i]);
            let p_exponent = (p.to_bits() >> 23) & 0xff;
            if !is_tiny(m)
                || grads[i] != 0.0
                || !(1..255).contains(&p_exponent)
                || !exp_avg_sq[i].is_finite()
            {
                continue;
            }
            // |step| <= ((|neg_step| |m| (1 + 2^-24) + 2^-150) / eps) (1 + 2^-24) + 2^-150 (the
            // float32 product and quotient, subnormal or not).
            let bound = (neg_step * widen(m).abs() * 1.001 + slack) / eps * 1.001 + slack;
            if bound < quarter_ulp(p_exponent) {
                self.index.push(i);
                self.m.push(m);
                self.p.push(p.to_bits());
                exp_avg[i] = 0.0;
            }
        }
    }
}

/// Whether `m` is a fixed point of [`decay`] with lerp weight `w1`: `w1 * |m| <= 2^-150`, so that
/// `w1 * (0 - m)` rounds to zero.
fn is_fixed_point(w1: f32, m: f32) -> bool {
    f64::from(w1) * widen(m).abs() <= f64::from_bits(0x3690_0000_0000_0000)
}

/// One step of every parked `exp_avg` (tiny, non-zero) with a zero gradient
/// ([`tiny_lerp_to_zero`]), for [`vectorized`].
#[inline(always)]
fn decay(w1: f32, exp_avg: &mut [f32]) {
    for m in exp_avg {
        *m = f32::from_bits(tiny_lerp_to_zero(w1, *m).1);
    }
}

/// [`pass`] compiled for `isa` with `division`, marking the tiny moments in `tiny` when given.
#[allow(clippy::too_many_arguments)] // pass's arguments and the two choices
fn run_pass(
    isa: Isa,
    division: Division,
    root_split: RootSplit,
    s: &Scalars,
    params: &mut [f32],
    grads: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    mut tiny: Option<&mut [u32]>,
) {
    // The fused division where this step's bias correction allows it, in code compiled with
    // FMA (every vector instruction set has it; at the baseline it would be a library call).
    let fused = s.fused && isa.has_fma();
    // With AVX-512, its loop updates the whole groups of those steps, the pass the rest.
    let done = if fused {
        let t = tiny.as_deref_mut();
        update_fused(isa, root_split, s, params, grads, exp_avg, exp_avg_sq, t)
    } else {
        0
    };
    if done == params.len() {
        return;
    }
    let (params, grads, exp_avg) = (&mut params[done..], &grads[done..], &mut exp_avg[done..]);
    let (v, t) = (
        &mut exp_avg_sq[done..],
        tiny.map(|t| &mut t[done / LANES..]),
    );
    match (fused, division, t) {
        (true, _, Some(t)) => vectorized(
            isa,
            #[inline(always)]
            || pass::<DIV_FUSED, true>(s, params, grads, exp_avg, v, t),
        ),
        (true, _, None) => vectorized(
            isa,
            #[inline(always)]
            || pass::<DIV_FUSED, false>(s, params, grads, exp_avg, v, &mut []),
        ),
        (false, Division::Float32, Some(t)) => vectorized(
            isa,
            #[inline(always)]
            || pass::<DIV_F32, true>(s, params, grads, exp_avg, v, t),
        ),
        (false, Division::Float32, None) => vectorized(
            isa,
            #[inline(always)]
            || pass::<DIV_F32, false>(s, params, grads, exp_avg, v, &mut []),
        ),
        (false, Division::Reciprocal, Some(t)) => vectorized(
            isa,
            #[inline(always)]
            || pass::<DIV_RECIPROCAL, true>(s, params, grads, exp_avg, v, t),
        ),
        (false, Division::Reciprocal, None) => vectorized(
            isa,
            #[inline(always)]
            || pass::<DIV_RECIPROCAL, false>(s, params, grads, exp_avg, v, &mut []),
        ),
    }
}

/// The plain float32 update of every parameter, [`LANES`] at a time (the set-aside ones with a
/// zero `exp_avg`), noting with `MARK` which `exp_avg` came out tiny in `tiny` (one mask per
/// group; without `MARK`, `tiny` is not touched and may be empty).
/// `#[inline(always)]` so that [`vectorized`] compiles it for the CPU's vector width.
#[inline(always)]
fn pass<const DIV: u8, const MARK: bool>(
    s: &Scalars,
    params: &mut [f32],
    grads: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    tiny: &mut [u32],
) {
    // A copy the compiler keeps in registers (otherwise it may reload the fields lane by lane).
    let s = &{ *s };
    let full = params.len() / LANES;
    let p = params.chunks_exact_mut(LANES);
    let g = grads.chunks_exact(LANES);
    let m = exp_avg.chunks_exact_mut(LANES);
    let v = exp_avg_sq.chunks_exact_mut(LANES);
    let groups = p.zip(g).zip(m).zip(v);
    // One loop each way, the masks zipped in (looking each up made the loop 14% slower here).
    if MARK {
        for ((((p, g), m), v), tiny) in groups.zip(tiny.iter_mut()) {
            *tiny = update_group::<DIV>(s, p, g, m, v);
        }
    } else {
        for (((p, g), m), v) in groups {
            update_group::<DIV>(s, p, g, m, v);
        }
    }
    let mut mask = 0;
    for (k, i) in (full * LANES..params.len()).enumerate() {
        update_with::<DIV>(
            s,
            &mut params[i],
            grads[i],
            &mut exp_avg[i],
            &mut exp_avg_sq[i],
        );
        mask |= u32::from(MARK && is_tiny(exp_avg[i])) << k;
    }
    if MARK && let Some(last) = tiny.get_mut(full) {
        *last = mask;
    }
}

/// [`update_with`] on one group of [`LANES`] parameters; returns the mask of the tiny `exp_avg`
/// (computed only where it is used).
#[inline(always)]
fn update_group<const DIV: u8>(
    s: &Scalars,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) -> u32 {
    let (p, g, m, v) = (
        <&mut [f32; LANES]>::try_from(p).expect("a full group"),
        <&[f32; LANES]>::try_from(g).expect("a full group"),
        <&mut [f32; LANES]>::try_from(m).expect("a full group"),
        <&mut [f32; LANES]>::try_from(v).expect("a full group"),
    );
    let mut mask = 0;
    for k in 0..LANES {
        let (mut pk, mut mk, mut vk) = (p[k], m[k], v[k]);
        update_with::<DIV>(s, &mut pk, g[k], &mut mk, &mut vk);
        (p[k], m[k], v[k]) = (pk, mk, vk);
        mask |= u32::from(is_tiny(mk)) << k;
    }
    mask
}

/// The update of the set-aside parameters from their saved values: [`short_case`] [`LANES`] at a
/// time (where it applies, the gradient is zero, so the pass, run with a zero `exp_avg`, already
/// left `p` as it was and gave `exp_avg_sq` its new value: only `exp_avg` is written),
/// [`update_set_aside`] one by one elsewhere; their tiny bits are renewed.
#[inline(always)]
fn finish_set_aside(
    s: &Scalars,
    params: &mut [f32],
    grads: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    aside: &mut SetAside,
) {
    let s = &{ *s };
    for start in (0..aside.index.len()).step_by(LANES) {
        let len = LANES.min(aside.index.len() - start);
        let index = &aside.index[start..start + len];
        // Lanes past the end compute on stand-ins and are not used.
        let (mut p, mut g, mut m, mut v) = (
            [1.0f32; LANES],
            [0.0f32; LANES],
            [TINY_STANDIN; LANES],
            [0.0f32; LANES],
        );
        p[..len].copy_from_slice(&aside.p[start..start + len]);
        m[..len].copy_from_slice(&aside.m[start..start + len]);
        v[..len].copy_from_slice(&aside.v[start..start + len]);
        for (g, &i) in g.iter_mut().zip(index) {
            *g = grads[i];
        }
        let (mut ok, mut m_new) = ([false; LANES], [0.0f32; LANES]);
        for k in 0..LANES {
            (ok[k], m_new[k]) = short_case(s, p[k], g[k], m[k], v[k]);
        }
        for (k, &i) in index.iter().enumerate() {
            let m_i = if ok[k] {
                exp_avg[i] = m_new[k];
                m_new[k]
            } else {
                let (mut p, mut m, mut v) = (p[k], m[k], v[k]);
                update_set_aside(s, &mut p, g[k], &mut m, &mut v);
                (params[i], exp_avg[i], exp_avg_sq[i]) = (p, m, v);
                m
            };
            let bit = 1 << (i % LANES);
            let mask = &mut aside.tiny[i / LANES];
            *mask = if is_tiny(m_i) {
                *mask | bit
            } else {
                *mask & !bit
            };
        }
    }
}

/// A tiny `exp_avg` (2^-110) for the unused lanes of [`finish_set_aside`].
const TINY_STANDIN: f32 = f32::from_bits(0x0880_0000);

/// `x / c` rounded to `float32`, given `inv_c = 1 / (c as f64)` (see [`Adam::step`]).
#[inline(always)]
fn div_by_constant(x: f32, inv_c: f64) -> f32 {
    (f64::from(x) * inv_c) as f32
}

/// The per-step constants of the update, rounded as torch rounds them (the AVX-512 loop reads
/// them too).
#[derive(Clone, Copy)]
pub(crate) struct Scalars {
    pub(crate) w1: f32,
    pub(crate) b2: f32,
    pub(crate) w2: f32,
    /// `sqrt(1 - beta2^t)` in float32, and its float64 reciprocal ([`Division`]).
    bc2: f32,
    inv_bc2: f64,
    /// The reciprocal of `bc2` as a float32 pair `zh + zl` ([`fused_div`]), and whether the
    /// fused division gives the division's bits for every dividend with this `bc2` (checked
    /// exhaustively for the default `beta2`: [`FUSED_INEXACT`]).
    pub(crate) zh: f32,
    pub(crate) zl: f32,
    fused: bool,
    pub(crate) eps: f32,
    pub(crate) neg_step: f32,
    pub(crate) small_weight: bool,
}

impl Scalars {
    /// The constants of step `step` (1-based).
    fn new(config: AdamConfig, step: u64) -> Scalars {
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
        } = config;
        // torch keeps `step` as a float32 tensor and reads it back as a Python float.
        let t = step as f32 as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        let step_size = lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.powf(0.5);
        let w1 = (1.0 - beta1) as f32;
        let bc2 = bias_correction2_sqrt as f32;
        let (zh, zl) = reciprocal_pair(bc2);
        Scalars {
            w1,
            b2: beta2 as f32,
            w2: (1.0 - beta2) as f32,
            bc2,
            inv_bc2: 1.0 / f64::from(bc2),
            zh,
            zl,
            // Every bias correction of the default beta2 is below 1 until step 16,628, then 1
            // (1 - beta2^t only grows): those below 1 were checked, and 1 is exact.
            fused: beta2 == 0.999
                && (bc2 == 1.0 || FUSED_INEXACT.binary_search(&bc2.to_bits()).is_err())
                && (zl == 0.0 || zl.abs() >= FUSED_MIN_LOW),
            eps: eps as f32,
            neg_step: (-step_size) as f32,
            small_weight: w1.abs() < 0.5,
        }
    }
}

/// The bias corrections `sqrt(1 - 0.999^t)` (float32 bits, sorted) for which [`fused_div`] is
/// not the division for every dividend, found by checking all of them against every float32
/// significand (`fused_division_exceptions_are_the_inexact_bias_corrections`).
const FUSED_INEXACT: [u32; 524] = [
    0x3e7d167b, 0x3eda874f, 0x3ef06e6f, 0x3ef4a007, 0x3f45c6ab, 0x3f515517, 0x3f53c023, 0x3f5aa893,
    0x3f5ab2f3, 0x3f5b7fe3, 0x3f6044ff, 0x3f627e3b, 0x3f64a357, 0x3f64fbdf, 0x3f654bfb, 0x3f67903b,
    0x3f683f7f, 0x3f694c07, 0x3f6982a3, 0x3f6a34cf, 0x3f6a74af, 0x3f6c6dd7, 0x3f6d9347, 0x3f6e3233,
    0x3f6eb943, 0x3f6ec6ff, 0x3f6f82af, 0x3f6fae23, 0x3f70785f, 0x3f70c99f, 0x3f70d1a7, 0x3f715f4f,
    0x3f72875f, 0x3f728aeb, 0x3f72a01b, 0x3f72a39f, 0x3f72a723, 0x3f7304a3, 0x3f731243, 0x3f7376a7,
    0x3f737d3b, 0x3f73be47, 0x3f73f157, 0x3f74011f, 0x3f747663, 0x3f752bf7, 0x3f75455b, 0x3f757cef,
    0x3f757faf, 0x3f75984b, 0x3f75b8bf, 0x3f75c8d3, 0x3f75eb4f, 0x3f76642b, 0x3f76935f, 0x3f773e07,
    0x3f776d73, 0x3f778c7f, 0x3f77ed4b, 0x3f78065b, 0x3f786593, 0x3f78810f, 0x3f788ac7, 0x3f78b4f3,
    0x3f78c9af, 0x3f78d307, 0x3f790a1b, 0x3f792503, 0x3f79387b, 0x3f79690f, 0x3f797a13, 0x3f79878f,
    0x3f79aa6f, 0x3f7a2eab, 0x3f7a332f, 0x3f7a37af, 0x3f7a4697, 0x3f7a5e1f, 0x3f7a8edf, 0x3f7a9047,
    0x3f7a91af, 0x3f7aaac3, 0x3f7ac617, 0x3f7adce3, 0x3f7b23fb, 0x3f7b4573, 0x3f7b7c63, 0x3f7b86d7,
    0x3f7bbbe3, 0x3f7bd09f, 0x3f7bf19b, 0x3f7c21ab, 0x3f7c22ab, 0x3f7c327f, 0x3f7c44f7, 0x3f7c778b,
    0x3f7c7b2f, 0x3f7c98a3, 0x3f7c9983, 0x3f7ca5b3, 0x3f7cb003, 0x3f7cc93f, 0x3f7cce33, 0x3f7cf4c7,
    0x3f7d0513, 0x3f7d05d7, 0x3f7d0fbf, 0x3f7d570f, 0x3f7d7a67, 0x3f7d996f, 0x3f7da77b, 0x3f7de767,
    0x3f7df42f, 0x3f7dfafb, 0x3f7e1f87, 0x3f7e2823, 0x3f7e31fb, 0x3f7e3cfb, 0x3f7e4747, 0x3f7e5233,
    0x3f7e5ef3, 0x3f7e83bb, 0x3f7e8ea3, 0x3f7eb43b, 0x3f7eb983, 0x3f7ebc1f, 0x3f7ebd6b, 0x3f7ebe63,
    0x3f7ec3d3, 0x3f7ec8db, 0x3f7ec97b, 0x3f7ecebb, 0x3f7ed2af, 0x3f7ed397, 0x3f7ed7c7, 0x3f7edc33,
    0x3f7edd13, 0x3f7eddf3, 0x3f7ee247, 0x3f7ee323, 0x3f7ee447, 0x3f7ee6d3, 0x3f7ee7f3, 0x3f7ee883,
    0x3f7eed83, 0x3f7ef4d7, 0x3f7efaab, 0x3f7efbb7, 0x3f7efc7f, 0x3f7f0c9f, 0x3f7f0ecf, 0x3f7f131f,
    0x3f7f1ce3, 0x3f7f24b7, 0x3f7f2527, 0x3f7f2607, 0x3f7f286b, 0x3f7f3497, 0x3f7f34cb, 0x3f7f3637,
    0x3f7f3c63, 0x3f7f416b, 0x3f7f4563, 0x3f7f473f, 0x3f7f4c5b, 0x3f7f4f37, 0x3f7f5a07, 0x3f7f6063,
    0x3f7f66a7, 0x3f7f69ff, 0x3f7f6f4f, 0x3f7f6fe3, 0x3f7f7177, 0x3f7f7307, 0x3f7f744b, 0x3f7f746f,
    0x3f7f7493, 0x3f7f7a73, 0x3f7f7e03, 0x3f7f7e67, 0x3f7f889f, 0x3f7f8b1b, 0x3f7f9197, 0x3f7f91b3,
    0x3f7f93c7, 0x3f7f9623, 0x3f7f98a7, 0x3f7f9b1b, 0x3f7f9fd7, 0x3f7f9fef, 0x3f7fa2af, 0x3f7fa2c7,
    0x3f7fa2df, 0x3f7fa2f7, 0x3f7fa55b, 0x3f7fa863, 0x3f7faacf, 0x3f7fab27, 0x3f7fad7f, 0x3f7fae13,
    0x3f7fae7b, 0x3f7fb1d7, 0x3f7fb1eb, 0x3f7fb4fb, 0x3f7fb5a7, 0x3f7fb8b7, 0x3f7fb95b, 0x3f7fbc0f,
    0x3f7fbc43, 0x3f7fbf3f, 0x3f7fbfb3, 0x3f7fc057, 0x3f7fc077, 0x3f7fc363, 0x3f7fc3df, 0x3f7fc42b,
    0x3f7fc43b, 0x3f7fc4d3, 0x3f7fc51f, 0x3f7fc7b7, 0x3f7fc8ff, 0x3f7fc937, 0x3f7fccb7, 0x3f7fccdf,
    0x3f7fcd13, 0x3f7fcd47, 0x3f7fcd7b, 0x3f7fd2bf, 0x3f7fd2d7, 0x3f7fd383, 0x3f7fd3c7, 0x3f7fd743,
    0x3f7fd7f3, 0x3f7fd807, 0x3f7fd877, 0x3f7fd98f, 0x3f7fde37, 0x3f7fde73, 0x3f7fdef3, 0x3f7fdf93,
    0x3f7fdf9b, 0x3f7fdfa3, 0x3f7fe01f, 0x3f7fe027, 0x3f7fe02f, 0x3f7fe03f, 0x3f7fe167, 0x3f7fe6c7,
    0x3f7fe707, 0x3f7fe753, 0x3f7fe773, 0x3f7fe79f, 0x3f7fe7ab, 0x3f7fe7ef, 0x3f7fe86f, 0x3f7fe87b,
    0x3f7fe89f, 0x3f7fe8ab, 0x3f7fe8c3, 0x3f7fe8cf, 0x3f7fe933, 0x3f7fe97f, 0x3f7fe99b, 0x3f7fe9a7,
    0x3f7fe9c3, 0x3f7fe9f7, 0x3f7fea13, 0x3f7fea5b, 0x3f7fea77, 0x3f7feab3, 0x3f7feaef, 0x3f7feaff,
    0x3f7feb1f, 0x3f7feb3f, 0x3f7febb3, 0x3f7fec43, 0x3f7fec57, 0x3f7ff4ff, 0x3f7ff507, 0x3f7ff513,
    0x3f7ff51b, 0x3f7ff53f, 0x3f7ff58b, 0x3f7ff5c3, 0x3f7ff5cb, 0x3f7ff5ef, 0x3f7ff5f7, 0x3f7ff613,
    0x3f7ff663, 0x3f7ff66f, 0x3f7ff683, 0x3f7ff6b3, 0x3f7ff6c3, 0x3f7ff707, 0x3f7ff727, 0x3f7ff72b,
    0x3f7ff73b, 0x3f7ff74f, 0x3f7ff75f, 0x3f7ff763, 0x3f7ff77b, 0x3f7ff78b, 0x3f7ff78f, 0x3f7ff7ab,
    0x3f7ff7b3, 0x3f7ff7c7, 0x3f7ff7cf, 0x3f7ff7db, 0x3f7ff7fb, 0x3f7ff80f, 0x3f7ff827, 0x3f7ff82b,
    0x3f7ff83b, 0x3f7ff84f, 0x3f7ff85b, 0x3f7ff863, 0x3f7ff867, 0x3f7ff88b, 0x3f7ff893, 0x3f7ff8ab,
    0x3f7ff8af, 0x3f7ff8b3, 0x3f7ff8c7, 0x3f7ff8cf, 0x3f7ff8df, 0x3f7ff8f3, 0x3f7ff907, 0x3f7ff913,
    0x3f7ff927, 0x3f7ff963, 0x3f7ff967, 0x3f7ff977, 0x3f7ff98b, 0x3f7ff997, 0x3f7ff9af, 0x3f7ff9bf,
    0x3f7ff9cb, 0x3f7ff9df, 0x3f7ff9e7, 0x3f7ff9f3, 0x3f7ff9fb, 0x3f7ffa03, 0x3f7ffa07, 0x3f7ffa2f,
    0x3f7ffa3b, 0x3f7ffa3f, 0x3f7ffa4b, 0x3f7ffa53, 0x3f7ffa77, 0x3f7ffa83, 0x3f7ffa87, 0x3f7ffa8b,
    0x3f7ffaa7, 0x3f7ffab3, 0x3f7ffab7, 0x3f7ffabf, 0x3f7ffac7, 0x3f7ffacf, 0x3f7ffadf, 0x3f7ffae3,
    0x3f7ffaeb, 0x3f7ffaf3, 0x3f7ffb03, 0x3f7ffb07, 0x3f7ffb0b, 0x3f7ffb1f, 0x3f7ffb23, 0x3f7ffb27,
    0x3f7ffb33, 0x3f7ffb37, 0x3f7ffb4b, 0x3f7ffb4f, 0x3f7ffb63, 0x3f7ffb67, 0x3f7ffb6f, 0x3f7ffb7f,
    0x3f7ffb83, 0x3f7ffb87, 0x3f7ffb8f, 0x3f7ffb93, 0x3f7ffb9b, 0x3f7ffb9f, 0x3f7ffba3, 0x3f7ffbaf,
    0x3f7ffbb3, 0x3f7ffbb7, 0x3f7ffbc3, 0x3f7ffbc7, 0x3f7ffbcf, 0x3f7ffbd3, 0x3f7ffbd7, 0x3f7ffbdb,
    0x3f7ffbeb, 0x3f7ffbef, 0x3f7ffc07, 0x3f7ffc27, 0x3f7ffc43, 0x3f7ffc47, 0x3f7ffc4b, 0x3f7ffc53,
    0x3f7ffc5f, 0x3f7ffc63, 0x3f7ffc6f, 0x3f7ffc73, 0x3f7ffc83, 0x3f7ffc87, 0x3f7ffc8f, 0x3f7ffc9b,
    0x3f7ffca3, 0x3f7ffca7, 0x3f7ffcb7, 0x3f7ffcbf, 0x3f7ffcc3, 0x3f7ffcc7, 0x3f7ffccf, 0x3f7ffcdb,
    0x3f7ffcdf, 0x3f7ffcf3, 0x3f7ffcfb, 0x3f7ffd07, 0x3f7ffd0b, 0x3f7ffd13, 0x3f7ffd17, 0x3f7ffd1b,
    0x3f7ffd23, 0x3f7ffd27, 0x3f7ffd33, 0x3f7ffd37, 0x3f7ffd4b, 0x3f7ffd4f, 0x3f7ffd57, 0x3f7ffd63,
    0x3f7ffd6f, 0x3f7ffd87, 0x3f7ffd93, 0x3f7ffd9b, 0x3f7ffda3, 0x3f7ffdaf, 0x3f7ffdb3, 0x3f7ffdbb,
    0x3f7ffdc3, 0x3f7ffdcb, 0x3f7ffdcf, 0x3f7ffdd7, 0x3f7ffddb, 0x3f7ffde3, 0x3f7ffde7, 0x3f7ffdeb,
    0x3f7ffe03, 0x3f7ffe13, 0x3f7ffe17, 0x3f7ffe1b, 0x3f7ffe1f, 0x3f7ffe23, 0x3f7ffe27, 0x3f7ffe2b,
    0x3f7ffe2f, 0x3f7ffe37, 0x3f7ffe3b, 0x3f7ffe4b, 0x3f7ffe4f, 0x3f7ffe53, 0x3f7ffe57, 0x3f7ffe5b,
    0x3f7ffe5f, 0x3f7ffe67, 0x3f7ffe6b, 0x3f7ffe6f, 0x3f7ffe77, 0x3f7ffe7b, 0x3f7ffe7f, 0x3f7ffe8f,
    0x3f7ffea3, 0x3f7ffea7, 0x3f7ffeaf, 0x3f7ffeb7, 0x3f7ffebb, 0x3f7ffebf, 0x3f7ffec3, 0x3f7ffec7,
    0x3f7ffecb, 0x3f7ffed3, 0x3f7ffed7, 0x3f7ffedb, 0x3f7ffedf, 0x3f7ffeef, 0x3f7ffef3, 0x3f7ffef7,
    0x3f7fff13, 0x3f7fff17, 0x3f7fff1b, 0x3f7fff1f, 0x3f7fff27, 0x3f7fff2b, 0x3f7fff3f, 0x3f7fff43,
    0x3f7fff4b, 0x3f7fff4f, 0x3f7fff5b, 0x3f7fff5f, 0x3f7fff63, 0x3f7fff67, 0x3f7fff6b, 0x3f7fff83,
    0x3f7fff87, 0x3f7fff8b, 0x3f7fff93, 0x3f7fff97, 0x3f7fff9b, 0x3f7fffa7, 0x3f7fffab, 0x3f7fffaf,
    0x3f7fffbf, 0x3f7fffc7, 0x3f7fffcb, 0x3f7fffcf, 0x3f7fffd3, 0x3f7fffdf, 0x3f7fffe7, 0x3f7fffeb,
    0x3f7fffef, 0x3f7ffff3, 0x3f7ffff7, 0x3f7ffffb,
];

/// How [`update_with`] divides by the bias correction: [`Division::Float32`].
const DIV_F32: u8 = 0;
/// [`Division::Reciprocal`].
const DIV_RECIPROCAL: u8 = 1;
/// [`fused_div`], for the steps whose bias correction allows it ([`Scalars::fused`]).
const DIV_FUSED: u8 = 2;

/// The smallest non-zero `|zl|` with which [`fused_div`] is used: then `x * zl` is normal for
/// every `x = sqrt(v)` that is not zero (`x >= 2^-74.5`), so that the fused division scales with
/// `x`'s exponent and checking the 2^23 dividends in `[1, 2)` covers all of them.
const FUSED_MIN_LOW: f32 = f32::from_bits(0x2600_0000); // 2^-51

/// `1 / c` as `zh + zl`: `zh` the float32 nearest to it, `zl` the float32 nearest to the rest.
fn reciprocal_pair(c: f32) -> (f32, f32) {
    let inv = 1.0 / f64::from(c);
    let zh = inv as f32;
    (zh, (inv - f64::from(zh)) as f32)
}

/// `x / c` as one multiplication and one fused multiply-add, `fma(x, zh, x * zl)` with `zh + zl`
/// from [`reciprocal_pair`] (Brisebarre, Muller and Raina's division by a constant known in
/// advance): the division's bits for every `x` for most `c`, but not all, so it is only used
/// for the bias corrections checked against every dividend ([`Scalars::fused`]). Zero,
/// infinities and NaN give `x` itself, as the division by a positive finite `c` does (the fused
/// multiply-add would turn an infinity into `inf - inf`).
#[inline(always)]
fn fused_div(x: f32, zh: f32, zl: f32) -> f32 {
    let q = x.mul_add(zh, x * zl);
    if x == 0.0 || !x.is_finite() { x } else { q }
}

/// torch's float32 update of one parameter (see the module docs), dividing by the bias
/// correction as `DIV` says ([`DIV_F32`], [`DIV_RECIPROCAL`], [`DIV_FUSED`]): the same bits.
#[inline(always)]
fn update_with<const DIV: u8>(s: &Scalars, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
    // at::lerp: the form depends on |weight| < 0.5.
    *m = if s.small_weight {
        *m + s.w1 * (g - *m)
    } else {
        g - (g - *m) * (1.0 - s.w1)
    };
    *v = *v * s.b2 + s.w2 * g * g;
    let root = v.sqrt();
    let scaled = match DIV {
        DIV_F32 => root / s.bc2,
        DIV_RECIPROCAL => div_by_constant(root, s.inv_bc2),
        _ => fused_div(root, s.zh, s.zl),
    };
    let denom = scaled + s.eps;
    *p += s.neg_step * *m / denom;
}

/// Non-zero and below `2^-100` in magnitude (an integer comparison that vectorises).
#[inline(always)]
fn is_tiny(x: f32) -> bool {
    (x.to_bits() & 0x7fff_ffff).wrapping_sub(1) < TINY_MAGNITUDES
}

/// How many non-zero magnitudes (float32 bits without the sign) are tiny ([`is_tiny`]).
pub(crate) const TINY_MAGNITUDES: u32 = (27 << 23) - 1;

/// `x` as `f64` without touching a subnormal `f32` in floating point (an integer conversion instead).
#[inline(always)]
fn widen(x: f32) -> f64 {
    let bits = x.to_bits();
    if bits & 0x7f80_0000 == 0 {
        let k = f64::from(bits & 0x007f_ffff) * f64::from_bits(0x36a0_0000_0000_0000); // 2^-149
        if bits >> 31 == 1 { -k } else { k }
    } else {
        f64::from(x)
    }
}

/// The `f32` nearest to the `f64` value `x` (ties to even) without producing a subnormal `f32` in
/// floating point: below `2^-126` the rounding to the subnormal grid is done in `f64` and the bits
/// are assembled as an integer.
#[inline(always)]
fn narrow(x: f64) -> f32 {
    const MIN_NORMAL: f64 = 1.175_494_350_822_287_5e-38; // 2^-126
    if x.abs() >= MIN_NORMAL || x.is_nan() {
        return x as f32;
    }
    // 1.5 * 2^-97: its f64 ulp is 2^-149, so adding it rounds to the subnormal grid (ties to even).
    let magic = f64::from_bits(0x39e8_0000_0000_0000);
    let r = (x.abs() + magic) - magic;
    let k = (r * f64::from_bits(0x4940_0000_0000_0000)) as u32; // r * 2^149, exact
    let sign = if x.is_sign_negative() { 0x8000_0000 } else { 0 };
    f32::from_bits(sign | k)
}

/// [`update_with`] for a set-aside parameter. The common case, a zero gradient with a tiny `exp_avg` and
/// ordinary `p` and `v`, is short: `exp_avg` through [`narrow`], `exp_avg_sq` and the denominator in
/// float32 (all normal), and `p` provably unchanged when the step `|(-lr / bc1) m / denom|` is below a
/// quarter of `p`'s ulp (then `p + step` rounds to `p`). Everything else goes through [`update_f64`].
#[inline(always)]
fn update_set_aside(s: &Scalars, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
    let p_exponent = (p.to_bits() >> 23) & 0xff;
    let v_ok = *v == 0.0 || ((v.to_bits() >> 23) & 0xff) >= 27;
    if g != 0.0 || !s.small_weight || !v_ok || !(64..255).contains(&p_exponent) {
        update_f64(s, p, g, m, v);
        return;
    }
    let m64 = widen(*m);
    let m_new = if *m == 0.0 {
        *m + s.w1 * (0.0 - *m)
    } else {
        narrow(m64 + widen(narrow(f64::from(s.w1) * -m64)))
    };
    let v_new = *v * s.b2 + s.w2 * 0.0 * 0.0;
    let denom = div_by_constant(v_new.sqrt(), s.inv_bc2) + s.eps;
    // |step| <= |neg_step| |m_new| / denom * (1 + 2^-22); p's ulp is 2^(e - 150).
    let bound = f64::from(s.neg_step).abs() * widen(m_new).abs() * 1.001;
    if bound < quarter_ulp(p_exponent) * f64::from(denom) {
        *m = m_new;
        *v = v_new;
    } else {
        update_f64(s, p, g, m, v);
    }
}

/// The short case of [`update_set_aside`] for a tiny `m` (non-zero, below 2^-100), without
/// branches and without a subnormal float32 as an operand or result of a floating-point
/// instruction: returns whether it applies (zero gradient, [`Scalars::small_weight`], `v` zero or
/// not tiny, `p` ordinary and unchanged by the step) and the new `exp_avg`; the parameter stays as
/// it is and `exp_avg_sq` becomes `v * beta2 + 0`, as in [`update_with`] with a zero gradient. Equal to
/// [`update_set_aside`] where it applies (tested).
#[inline(always)]
fn short_case(s: &Scalars, p: f32, g: f32, m: f32, v: f32) -> (bool, f32) {
    let p_exponent = (p.to_bits() >> 23) & 0xff;
    let v_ok = v == 0.0 || ((v.to_bits() >> 23) & 0xff) >= 27;
    let ok = g == 0.0 && s.small_weight && v_ok && (64..255).contains(&p_exponent);
    let (m_new, m_bits) = tiny_lerp_to_zero(s.w1, m);
    let v_in = if v_ok { v } else { 1.0 };
    let v_new = v_in * s.b2 + s.w2 * 0.0 * 0.0;
    let denom = div_by_constant(v_new.sqrt(), s.inv_bc2) + s.eps;
    let bound = f64::from(s.neg_step).abs() * m_new.abs() * 1.001;
    let ok = ok && bound < quarter_ulp(p_exponent.max(64)) * f64::from(denom);
    (ok, f32::from_bits(m_bits))
}

/// 2^-97: its `f64` ulp is 2^-149, the spacing of the float32 subnormals, so `2^-97 + k 2^-149` has
/// the bits of 2^-97 plus `k`, and adding a value below 2^-126 to it rounds that value to the
/// subnormal grid (ties to even).
const SUBNORMAL_GRID: f64 = f64::from_bits(0x39e0_0000_0000_0000);

/// A quarter of the ulp of a float32 with biased exponent `p_exponent` (at least 1): `2^(e - 152)`.
/// A step below it cannot change the value (`p + step` rounds back to `p`).
#[inline(always)]
fn quarter_ulp(p_exponent: u32) -> f64 {
    f64::from_bits(u64::from(p_exponent + 1023 - 152) << 52)
}

/// `m + w1 * (0 - m)` in float32 for a tiny `m` (non-zero, below 2^-100), each rounding done by
/// [`encode_tiny`] in float64 (`0 - m` is exact, `w1 * m` and the sum are exact in float64): the
/// new value as `f64` and its float32 bits. Branch-free, with no subnormal float32 as an operand or
/// result of a floating-point instruction.
#[inline(always)]
fn tiny_lerp_to_zero(w1: f32, m: f32) -> (f64, u32) {
    let m64 = decode_tiny(m);
    let (u, _) = encode_tiny(f64::from(w1) * -m64);
    encode_tiny(m64 + u)
}

/// The value of a float32 below 2^-100 in magnitude (normal or subnormal) as `f64`, converting
/// only normal floats.
#[inline(always)]
fn decode_tiny(x: f32) -> f64 {
    let bits = x.to_bits();
    let magnitude = bits & 0x7fff_ffff;
    let subnormal = magnitude < 0x0080_0000;
    // k 2^-149 for a subnormal x = k 2^-149.
    let from_grid =
        f64::from_bits(SUBNORMAL_GRID.to_bits() + u64::from(magnitude)) - SUBNORMAL_GRID;
    // Converted from at least the smallest normal: a `max`, not a choice between two values,
    // which the compiler may turn into converting both (a subnormal operand of a conversion costs
    // a microcode assist on x86 CPUs that have them).
    let normal = f64::from(f32::from_bits(magnitude.max(0x0080_0000)));
    let value = if subnormal { from_grid } else { normal };
    if bits >> 31 == 1 { -value } else { value }
}

/// `x` (below 2^-99 in magnitude) rounded to float32 (ties to even, subnormals included): the
/// rounded value as `f64` and its float32 bits, without a subnormal float32 in floating point.
#[inline(always)]
fn encode_tiny(x: f64) -> (f64, u32) {
    const MIN_NORMAL: f64 = 1.175_494_350_822_287_5e-38; // 2^-126
    let a = x.abs();
    let subnormal = a < MIN_NORMAL;
    let on_grid = a.min(MIN_NORMAL) + SUBNORMAL_GRID;
    let k = (on_grid.to_bits() - SUBNORMAL_GRID.to_bits()) as u32;
    let r = on_grid - SUBNORMAL_GRID;
    // Rounded from at least 2^-126, so the conversion never produces a subnormal (see
    // `decode_tiny` on why a `max` and not a choice).
    let normal = a.max(MIN_NORMAL) as f32;
    let value = if subnormal { r } else { f64::from(normal) };
    let bits = if subnormal { k } else { normal.to_bits() };
    let negative = x.is_sign_negative();
    (
        if negative { -value } else { value },
        bits | (u32::from(negative) << 31),
    )
}

/// [`update_with`] with every float32 operation done in float64 and rounded by [`narrow`]: operands are
/// float32 values, so sums and products are exact in float64 or rounded twice harmlessly
/// (53 >= 2 * 24 + 2), as are the quotient and the square root; no subnormal float32 is ever an
/// operand or result of a floating-point instruction.
#[inline(never)]
fn update_f64(s: &Scalars, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
    let (g64, m64) = (widen(g), widen(*m));
    let m_new = if s.small_weight {
        let t = narrow(f64::from(s.w1) * widen(narrow(g64 - m64)));
        narrow(m64 + widen(t))
    } else {
        let t = narrow(widen(narrow(g64 - m64)) * widen(narrow(1.0 - f64::from(s.w1))));
        narrow(g64 - widen(t))
    };
    let vb = narrow(widen(*v) * f64::from(s.b2));
    let wgg = narrow(widen(narrow(f64::from(s.w2) * g64)) * g64);
    let v_new = narrow(widen(vb) + widen(wgg));
    let root = narrow(widen(v_new).sqrt());
    let scaled = narrow(widen(root) * s.inv_bc2);
    let denom = narrow(widen(scaled) + f64::from(s.eps));
    let nm = narrow(f64::from(s.neg_step) * widen(m_new));
    let delta = narrow(widen(nm) / widen(denom));
    *p = narrow(widen(*p) + widen(delta));
    *m = m_new;
    *v = v_new;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::torch::{CpuCapability, TorchGenerator};

    /// FNV-1a over the bits of `values`.
    fn fnv(values: impl IntoIterator<Item = u64>) -> u64 {
        values.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, v| {
            (h ^ v).wrapping_mul(0x100_0000_01b3)
        })
    }

    /// The float32 constants of steps 1..=1,000,000 (the default configuration, the only one the
    /// binaries use) and, to tell which build of `pow` ran, its raw float64 values `0.999^t`.
    fn scalars_and_pow_hashes() -> (u64, u64) {
        const STEPS: u64 = 1_000_000;
        let scalars = fnv((1..=STEPS).flat_map(|t| {
            let s = Scalars::new(AdamConfig::default(), t);
            [s.neg_step.to_bits(), s.bc2.to_bits()].map(u64::from)
        }));
        let pow = fnv((1..=STEPS).map(|t| 0.999f64.powf(t as f64).to_bits()));
        (scalars, pow)
    }

    /// Adam's step constants come from the C library's float64 `pow`, as torch's come from
    /// Python's (the same `pow`). glibc has an FMA and an SSE2 build of it, chosen by the CPU, whose
    /// values differ in the last bit for some steps (`0.999^3856`, the first); the float32 constants
    /// the update uses do not. This runs itself again with glibc told to pick the SSE2 build and
    /// compares.
    #[test]
    fn step_constants_do_not_depend_on_glibc_s_build_of_pow() {
        let (scalars, pow) = scalars_and_pow_hashes();
        if std::env::var_os("NPFL_ADAM_CHILD").is_some() {
            println!("child-hashes {scalars:016x} {pow:016x}");
            return;
        }
        if !cfg!(all(
            target_arch = "x86_64",
            target_os = "linux",
            target_env = "gnu"
        )) {
            return;
        }
        let name = "nn::adam::tests::step_constants_do_not_depend_on_glibc_s_build_of_pow";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env("NPFL_ADAM_CHILD", "1")
            .env("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX2,-FMA")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // libtest prints the test's name and the line on one line.
        let line = stdout
            .split("child-hashes ")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .unwrap_or_else(|| panic!("no hashes from the child: {stdout}"));
        let child: Vec<u64> = line
            .split(' ')
            .map(|h| u64::from_str_radix(h, 16).unwrap())
            .collect();
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("fma") {
            assert_ne!(child[1], pow, "the child did not run glibc's SSE2 pow");
        }
        assert_eq!(
            child[0], scalars,
            "Adam's constants changed with glibc's pow build"
        );
    }

    /// Step `step`'s constants, with a lerp weight of 0.7 (torch's other form) unless
    /// `small_weight`.
    fn scalars(step: u32, small_weight: bool) -> Scalars {
        let s = Scalars::new(AdamConfig::default(), step.into());
        if small_weight {
            s
        } else {
            Scalars {
                w1: 0.7,
                small_weight,
                ..s
            }
        }
    }

    /// A random float32 from a mix of ranges: subnormal, tiny normal, ordinary, zeros.
    fn any_f32(g: &mut TorchGenerator, kind: u32) -> f32 {
        let r = g.random();
        match kind % 6 {
            0 => f32::from_bits(r & 0x807f_ffff),
            1 => f32::from_bits((r & 0x8000_0000) | (r % (30 << 23))),
            2 => f32::from_bits((r & 0x8fff_ffff) | 0x3000_0000),
            3 => 0.0,
            4 => -0.0,
            _ => (r % 2001) as f32 * 1e-3 - 1.0,
        }
    }

    /// The float64 path gives the float32 formula's bits, subnormals included.
    #[test]
    fn float64_path_is_bitwise_the_float32_formula() {
        let mut g = TorchGenerator::new(5);
        for step in [1u32, 2, 10, 500, 1100, 5000] {
            for small_weight in [true, false] {
                let s = scalars(step, small_weight);
                for i in 0..100_000u32 {
                    let m = any_f32(&mut g, i);
                    let grad = any_f32(&mut g, i / 6 + (i % 3) * 2);
                    let v = any_f32(&mut g, i / 36).abs();
                    let p = any_f32(&mut g, i / 216 + 5);
                    let (mut p1, mut m1, mut v1) = (p, m, v);
                    let (mut p2, mut m2, mut v2) = (p, m, v);
                    let (mut p3, mut m3, mut v3) = (p, m, v);
                    update_with::<DIV_RECIPROCAL>(&s, &mut p1, grad, &mut m1, &mut v1);
                    update_f64(&s, &mut p2, grad, &mut m2, &mut v2);
                    // The set-aside path, often with a zero gradient (its short case).
                    let (mut p4, mut m4, mut v4) = (p, m, v);
                    update_with::<DIV_RECIPROCAL>(&s, &mut p4, 0.0, &mut m4, &mut v4);
                    update_set_aside(&s, &mut p3, 0.0, &mut m3, &mut v3);
                    assert_eq!(
                        (p1.to_bits(), m1.to_bits(), v1.to_bits()),
                        (p2.to_bits(), m2.to_bits(), v2.to_bits()),
                        "update_f64, step {step}: p {p:e} g {grad:e} m {m:e} v {v:e}"
                    );
                    assert_eq!(
                        (p4.to_bits(), m4.to_bits(), v4.to_bits()),
                        (p3.to_bits(), m3.to_bits(), v3.to_bits()),
                        "update_set_aside, step {step}: p {p:e} m {m:e} v {v:e}"
                    );
                }
            }
        }
        for x in [
            0.0f64,
            -0.0,
            1e-45,
            7e-46,
            1.4e-45,
            -2.1e-45,
            1.1754942e-38,
            1.17549435e-38,
            3.0e-39,
        ] {
            assert_eq!(narrow(x).to_bits(), (x as f32).to_bits(), "{x:e}");
        }
        for bits in (0..0x0100_0000u32)
            .step_by(101)
            .chain([0x8000_0001, 0x807f_ffff])
        {
            let x = f32::from_bits(bits);
            assert_eq!(widen(x), f64::from(x));
        }
    }

    /// The update loop compiled for every available vector width gives the portable loop's bits,
    /// over steps whose moments reach the tiny and subnormal ranges.
    #[test]
    fn every_vector_width_gives_the_same_bits() {
        let run = |isa: Isa, division: Division, tiny: TinyMoments, split: RootSplit| {
            let mut g = TorchGenerator::new(5);
            // 65 whole groups (the AVX-512 loop takes them in pairs) and 7 more.
            let n = 1047;
            let mut adam = Adam::new(AdamConfig::default(), n)
                .with_isa(isa)
                .with_division(division)
                .with_tiny_moments(tiny)
                .with_root_split(split);
            let mut p = vec![0.0f32; n];
            g.uniform_f32(&mut p, -0.5, 0.5, CpuCapability::Default);
            let mut grads = vec![0.0f32; n];
            for step in 0..300u32 {
                for (i, gr) in grads.iter_mut().enumerate() {
                    // A third of the gradients stop at step 10: their moments decay to subnormals.
                    *gr = if i % 3 == 0 && step > 10 {
                        0.0
                    } else {
                        any_f32(&mut g, i as u32)
                    };
                }
                adam.step(&mut p, &grads);
            }
            (p, adam.exp_avg.clone(), adam.exp_avg_sq.clone())
        };
        let expected = run(
            Isa::Baseline,
            Division::Reciprocal,
            TinyMoments::SetAside,
            RootSplit::Divider,
        );
        let splits = [
            RootSplit::Divider,
            RootSplit::Alternate,
            RootSplit::Emulated,
        ];
        let tiny_moments = [
            TinyMoments::SetAside,
            TinyMoments::InPass,
            TinyMoments::Timed,
        ];
        for isa in Isa::available() {
            // The split only matters to the AVX-512 loop.
            let splits = if isa == Isa::Avx512 {
                &splits[..]
            } else {
                &splits[..1]
            };
            for (division, tiny, split) in [Division::Float32, Division::Reciprocal]
                .into_iter()
                .flat_map(|d| tiny_moments.map(|t| (d, t)))
                .flat_map(|(d, t)| splits.iter().map(move |&r| (d, t, r)))
            {
                let got = run(isa, division, tiny, split);
                let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                let what = format!("{isa}, {division:?}, {tiny:?}, {split:?}");
                assert_eq!(bits(&got.0), bits(&expected.0), "{what}: parameters");
                assert_eq!(bits(&got.1), bits(&expected.1), "{what}: exp_avg");
                assert_eq!(bits(&got.2), bits(&expected.2), "{what}: exp_avg_sq");
            }
        }
        // The measured choice is one of the two and stays the same within a process.
        let fastest = Division::fastest(Isa::detect());
        assert_eq!(Division::fastest(Isa::detect()), fastest);
    }

    /// Whole steps with tiny, subnormal, zero and ordinary moments and gradients: the set-aside
    /// update equals the plain per-element float32 formula bit for bit.
    #[test]
    fn step_equals_the_plain_formula_with_subnormals() {
        for tiny in [
            Some(TinyMoments::SetAside),
            Some(TinyMoments::InPass),
            Some(TinyMoments::Timed),
            // Switching every few steps: steps that set aside after steps that did not mark
            // (with marks from an older step: only a speed question).
            None,
        ] {
            steps_equal_the_plain_formula(tiny);
        }
    }

    fn steps_equal_the_plain_formula(tiny: Option<TinyMoments>) {
        let mut g = TorchGenerator::new(9);
        let n = 4099;
        let mut adam = Adam::new(AdamConfig::default(), n)
            .with_tiny_moments(tiny.unwrap_or(TinyMoments::InPass));
        adam.park_period = 4;
        let mut p = vec![0.0f32; n];
        g.uniform_f32(&mut p, -0.5, 0.5, CpuCapability::Default);
        let (mut m_ref, mut v_ref, mut p_ref) = (vec![0.0f32; n], vec![0.0f32; n], p.clone());
        let mut grads = vec![0.0f32; n];
        for step in 0..60u32 {
            for (i, gr) in grads.iter_mut().enumerate() {
                *gr = if (i + step as usize).is_multiple_of(3) {
                    0.0
                } else {
                    any_f32(&mut g, i as u32)
                };
            }
            if step % 20 == 10 {
                // Push some moments into the tiny range and the subnormals directly.
                adam.unpark_all();
                for i in (0..n).step_by(3) {
                    m_ref[i] = any_f32(&mut g, (i % 2) as u32);
                    adam.exp_avg[i] = m_ref[i];
                }
            }
            if tiny.is_none() {
                adam.tiny_moments = if step % 5 < 2 {
                    TinyMoments::SetAside
                } else {
                    TinyMoments::InPass
                };
            }
            adam.step(&mut p, &grads);
            plain_step(step + 1, &grads, [&mut p_ref, &mut m_ref, &mut v_ref]);
            assert_same_state(
                &format!("{tiny:?}: step {step}"),
                &adam,
                &p,
                &grads,
                [&p_ref, &m_ref, &v_ref],
            );
        }
    }

    /// Step `step` (1-based) of the plain float32 formula on `state` (parameters, `exp_avg`,
    /// `exp_avg_sq`), one element at a time.
    fn plain_step(step: u32, grads: &[f32], state: [&mut [f32]; 3]) {
        let s = scalars(step, true);
        let [p, m, v] = state;
        for (i, &g) in grads.iter().enumerate() {
            update_with::<DIV_RECIPROCAL>(&s, &mut p[i], g, &mut m[i], &mut v[i]);
        }
    }

    /// Panics, naming the first difference, unless the parameters `p` and the moments of `adam`
    /// (parked ones included) have the bits of `reference` (parameters, `exp_avg`, `exp_avg_sq`).
    fn assert_same_state(
        what: &str,
        adam: &Adam,
        p: &[f32],
        grads: &[f32],
        reference: [&[f32]; 3],
    ) {
        let m = adam.exp_avg();
        let [p_ref, m_ref, v_ref] = reference;
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits();
        if let Some(i) = (0..p.len()).find(|&i| {
            !same(p[i], p_ref[i]) || !same(m[i], m_ref[i]) || !same(adam.exp_avg_sq[i], v_ref[i])
        }) {
            panic!(
                "{what}, parameter {i} (gradient {:e}): (p, m, v) = ({:e}, {:e}, {:e}), \
                 the plain formula gives ({:e}, {:e}, {:e})",
                grads[i], p[i], m[i], adam.exp_avg_sq[i], p_ref[i], m_ref[i], v_ref[i]
            );
        }
    }

    /// Parking (see [`Parked`]): moments that decay through the tiny normals and the subnormals
    /// to their fixed points while the gradient stays zero, gradients that come back (also as
    /// subnormals, and `-0.0`, which does not unpark), parameters that a caller changes between
    /// steps ([`Adam::step`]; [`Adam::step_unchanged`] without such changes), parameters that
    /// may not be parked (zero, subnormal, infinite, NaN, or so small that a tiny moment could
    /// move them; an infinite `exp_avg_sq`): every step equals the plain float32 formula bit for
    /// bit, for each way of treating tiny moments, and parameters are parked and unparked.
    #[test]
    fn parked_steps_equal_the_plain_formula() {
        for (tiny, unchanged) in [
            (TinyMoments::Timed, false),
            (TinyMoments::SetAside, false),
            (TinyMoments::InPass, false),
            (TinyMoments::Timed, true),
            (TinyMoments::SetAside, true),
            (TinyMoments::InPass, true),
        ] {
            let mut g = TorchGenerator::new(17);
            let n = 2003;
            let mut adam = Adam::new(AdamConfig::default(), n).with_tiny_moments(tiny);
            adam.park_period = 3;
            let mut p: Vec<f32> = (0..n)
                .map(|i| match i % 41 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::from_bits(0x0000_0123),
                    3 => f32::from_bits(0x1000_0000), // 2^-95: a tiny moment could move it
                    4 => f32::INFINITY,
                    5 => f32::NAN,
                    6 => 1e30,
                    _ => any_f32(&mut g, 5) + 0.01,
                })
                .collect();
            // Moments from tiny normals down to the fixed points, both signs.
            for i in 0..n {
                let r = g.random();
                let magnitude = match i % 4 {
                    0 => (r % (26 << 23)) + (1 << 23),  // 2^-126 .. 2^-100
                    1 => r & 0x007f_ffff,               // subnormal
                    2 => 1 + r % 5,                     // at or near a fixed point
                    _ => (r % (20 << 23)) + (90 << 23), // ordinary small
                };
                adam.exp_avg[i] = f32::from_bits(magnitude | (r & 0x8000_0000));
                adam.exp_avg_sq[i] = match i % 53 {
                    0 => f32::INFINITY,
                    1 => 0.0,
                    _ => any_f32(&mut g, 5).abs() * 1e-6,
                };
            }
            let (mut p_ref, mut m_ref, mut v_ref) =
                (p.clone(), adam.exp_avg.clone(), adam.exp_avg_sq.clone());
            let mut grads = vec![0.0f32; n];
            let (mut most, mut unparked) = (0, 0);
            for step in 0..400u32 {
                for (i, gr) in grads.iter_mut().enumerate() {
                    // Mostly zero (some -0.0); a gradient now and then, for some parameters often.
                    let r = g.random();
                    let often = i % 7 == 0;
                    *gr = if !r.is_multiple_of(if often { 3 } else { 97 }) {
                        if r.is_multiple_of(11) { -0.0 } else { 0.0 }
                    } else {
                        match r % 5 {
                            0 => f32::from_bits(1 + r % 1000), // subnormal
                            1 => -1e-40,
                            _ => any_f32(&mut g, 5) * 1e-3,
                        }
                    };
                }
                if step % 37 == 36 && !unchanged {
                    // A caller changes some parameters between steps.
                    for i in (step as usize % 13..n).step_by(13) {
                        p[i] = if i % 2 == 0 { p[i] * 1e-30 } else { p[i] + 0.5 };
                        p_ref[i] = p[i];
                    }
                }
                let before = adam.parked();
                if unchanged {
                    adam.step_unchanged(&mut p, &grads);
                } else {
                    adam.step(&mut p, &grads);
                }
                plain_step(step + 1, &grads, [&mut p_ref, &mut m_ref, &mut v_ref]);
                assert_same_state(
                    &format!("{tiny:?} (unchanged: {unchanged}): step {step}"),
                    &adam,
                    &p,
                    &grads,
                    [&p_ref, &m_ref, &v_ref],
                );
                most = most.max(adam.parked());
                unparked += before.saturating_sub(adam.parked());
            }
            assert!(most > n / 3, "{tiny:?}: at most {most} parked");
            assert!(unparked > 100, "{tiny:?}: {unparked} unparked");
        }
    }

    /// [`marked`] lists the set bits' parameters, in order, empty and full masks included.
    #[test]
    fn marked_lists_every_set_bit() {
        let tiny = [0b1011u32, 0, u32::from(u16::MAX), 1 << 15, 0];
        let want: Vec<usize> = tiny
            .iter()
            .enumerate()
            .flat_map(|(g, &m)| {
                (0..32)
                    .filter(move |k| m >> k & 1 == 1)
                    .map(move |k| g * LANES + k)
            })
            .collect();
        assert_eq!(marked(&tiny).collect::<Vec<_>>(), want);
        assert_eq!(want.len(), 3 + 16 + 1);
        assert_eq!(marked(&[]).count(), 0);
    }

    /// [`decay`] is `m + w1 * (0 - m)` in float32, for tiny moments of every kind.
    #[test]
    fn decay_is_the_float32_lerp() {
        let mut g = TorchGenerator::new(23);
        let w1 = scalars(1, true).w1;
        let mut m: Vec<f32> = (0..200_000)
            .map(|i| {
                let r = g.random();
                let magnitude = if i % 2 == 0 {
                    1 + r % 0x007f_ffff
                } else {
                    r % (27 << 23) + 1
                };
                f32::from_bits(magnitude | (r & 0x8000_0000))
            })
            .collect();
        let expected: Vec<f32> = m.iter().map(|&x| x + w1 * (0.0 - x)).collect();
        decay(w1, &mut m);
        for (i, (&x, &e)) in m.iter().zip(&expected).enumerate() {
            assert_eq!(x.to_bits(), e.to_bits(), "value {i}: {x:e} against {e:e}");
        }
    }

    /// The root split's trial: the splits in turn, then the fastest (the first of equals).
    #[test]
    fn root_trial_picks_the_fastest_split() {
        let ms = Duration::from_millis;
        let run = |times: [u64; 3]| {
            let mut trial = RootTrial::new();
            for k in 0..3 * ROOT_TRIAL_STEPS {
                let which = trial.next();
                assert_eq!(which, k as usize % 3);
                let picked = trial.record(which, ms(times[which] + u64::from(k % 5)));
                assert_eq!(picked.is_some(), k + 1 == 3 * ROOT_TRIAL_STEPS);
                if let Some(split) = picked {
                    return split;
                }
            }
            unreachable!("the trial ends")
        };
        assert_eq!(run([5, 3, 4]), RootSplit::Alternate);
        assert_eq!(run([5, 6, 4]), RootSplit::Emulated);
        assert_eq!(run([4, 4, 4]), RootSplit::Divider);
    }

    /// An optimiser left to its trial gives the bits of one with the split given, and (with
    /// AVX-512) ends the trial after its steps.
    #[test]
    fn root_trial_keeps_the_bits() {
        let n = 1047;
        let mut g = TorchGenerator::new(11);
        let mut grads = vec![0.0f32; n];
        let mut p = vec![0.0f32; n];
        g.uniform_f32(&mut p, -0.5, 0.5, CpuCapability::Default);
        let mut p_given = p.clone();
        let mut trial = Adam::new(AdamConfig::default(), n);
        let mut given = Adam::new(AdamConfig::default(), n).with_root_split(RootSplit::Divider);
        let steps = ROOT_TRIAL_START + u64::from(3 * ROOT_TRIAL_STEPS) + 4;
        for _ in 0..steps {
            for (i, gr) in grads.iter_mut().enumerate() {
                *gr = any_f32(&mut g, i as u32);
            }
            trial.step(&mut p, &grads);
            given.step(&mut p_given, &grads);
        }
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&p), bits(&p_given));
        assert_eq!(bits(&trial.exp_avg()), bits(&given.exp_avg()));
        assert_eq!(bits(trial.exp_avg_sq()), bits(given.exp_avg_sq()));
        // Most of these steps use the fused division, so the loop ran and the trial ended.
        if Isa::detect() == Isa::Avx512 {
            assert!(trial.root_trial.is_none());
        }
    }

    /// [`TinyMoments::Timed`]'s schedule: a trial of both ways alternating, the faster way until
    /// the next trial, trials thinning out while one way wins by far and coming back when not.
    #[test]
    fn timed_trials_pick_the_faster_way() {
        let ms = Duration::from_millis;
        let mut trial = Trial::default();
        // A trial where the pass is 3 times slower: set aside, and wait twice as long.
        for k in 0..2 * TRIAL_STEPS {
            let (aside, timed) = trial.next();
            assert!(timed);
            assert_eq!(aside, k % 2 == 0);
            trial.record(aside, if aside { ms(1) } else { ms(3) });
        }
        assert_eq!((trial.set_aside, trial.wait), (true, 2 * TRIAL_PERIOD));
        for _ in 0..2 * TRIAL_PERIOD {
            assert_eq!(trial.next(), (true, false));
        }
        // Now the pass is a little faster: it is used, and trials are every TRIAL_PERIOD again.
        for _ in 0..2 * TRIAL_STEPS {
            let (aside, timed) = trial.next();
            assert!(timed);
            trial.record(aside, if aside { ms(11) } else { ms(10) });
        }
        assert_eq!((trial.set_aside, trial.wait), (false, TRIAL_PERIOD));
        assert_eq!(trial.next(), (false, false));
        // The wait stops growing at 8 periods.
        for _ in 0..10 {
            while trial.wait > 0 {
                trial.next();
            }
            for _ in 0..2 * TRIAL_STEPS {
                let (aside, _) = trial.next();
                trial.record(aside, if aside { ms(5) } else { ms(1) });
            }
        }
        assert_eq!((trial.set_aside, trial.period), (false, 8 * TRIAL_PERIOD));
    }

    /// The vectorised short case agrees with [`update_set_aside`] wherever it says it applies, and
    /// applies in the common case (zero gradient, ordinary `p` and `v`).
    #[test]
    fn short_case_equals_the_set_aside_update() {
        let mut g = TorchGenerator::new(13);
        let mut applied = 0;
        for step in [1u32, 3, 100, 1100, 20_000] {
            for small_weight in [true, false] {
                let s = scalars(step, small_weight);
                for i in 0..200_000u32 {
                    // Tiny exp_avg: subnormal or a normal below 2^-100.
                    let r = g.random();
                    let m = f32::from_bits((r & 0x8000_0000) | (1 + r % ((27 << 23) - 1)));
                    assert!(is_tiny(m));
                    let grad = if i % 4 == 0 {
                        any_f32(&mut g, i / 4)
                    } else {
                        0.0
                    };
                    let v = any_f32(&mut g, i / 7).abs();
                    let p = any_f32(&mut g, i / 3 + 5);
                    let (ok, m_new) = short_case(&s, p, grad, m, v);
                    let (mut p1, mut m1, mut v1) = (p, m, v);
                    update_set_aside(&s, &mut p1, grad, &mut m1, &mut v1);
                    if ok {
                        applied += 1;
                        let (mut p2, mut m2, mut v2) = (p, 0.0, v);
                        // What the pass computes for a set-aside lane: p unchanged, v updated.
                        update_with::<DIV_RECIPROCAL>(&s, &mut p2, 0.0, &mut m2, &mut v2);
                        assert_eq!(
                            (p1.to_bits(), m1.to_bits(), v1.to_bits()),
                            (p2.to_bits(), m_new.to_bits(), v2.to_bits()),
                            "step {step}: p {p:e} g {grad:e} m {m:e} v {v:e}"
                        );
                    }
                }
            }
        }
        assert!(applied > 100_000, "the short case applied {applied} times");
    }

    /// The tiny-range conversions equal `widen` and `narrow` (and so the plain casts).
    #[test]
    fn tiny_conversions_are_exact() {
        let mut g = TorchGenerator::new(17);
        for bits in (1..27u32 << 23)
            .step_by(211)
            .chain([1, 0x007f_ffff, 0x0080_0000])
        {
            for sign in [0, 0x8000_0000] {
                let x = f32::from_bits(bits | sign);
                assert_eq!(decode_tiny(x).to_bits(), widen(x).to_bits(), "{x:e}");
            }
        }
        for _ in 0..1_000_000 {
            // Doubles below 2^-99: random bits with a small exponent.
            let r = u64::from(g.random()) << 32 | u64::from(g.random());
            let x = f64::from_bits(r & 0x800f_ffff_ffff_ffff | (u64::from(g.random() % 924) << 52));
            let (value, bits) = encode_tiny(x);
            let want = narrow(x);
            assert_eq!(bits, want.to_bits(), "{x:e}");
            assert_eq!(value.to_bits(), widen(want).to_bits(), "{x:e}");
        }
    }

    /// Whether [`fused_div`] gives `x / c`'s bits for every float32 `x` (see [`FUSED_MIN_LOW`]
    /// for why the significands in `[1, 2)` cover every exponent), at this CPU's vector width.
    fn fused_div_is_exact(c: f32) -> bool {
        let (zh, zl) = reciprocal_pair(c);
        if zl != 0.0 && zl.abs() < FUSED_MIN_LOW {
            return false;
        }
        let differ = vectorized(
            Isa::detect(),
            #[inline(always)]
            || {
                (0..1u32 << 23).fold(0u32, |differ, s| {
                    let x = f32::from_bits(0x3f80_0000 | s);
                    differ | ((x / c).to_bits() ^ fused_div(x, zh, zl).to_bits())
                })
            },
        );
        differ == 0
    }

    /// Every bias correction of the default beta2 is checked against every dividend: the inexact
    /// ones are exactly [`FUSED_INEXACT`], and from step 16,628 on the bias correction is 1.
    #[test]
    #[ignore = "exhaustive: 2^23 dividends for each of about 10,000 bias corrections, seconds in release; .ci/run runs it"]
    fn fused_division_exceptions_are_the_inexact_bias_corrections() {
        let config = AdamConfig::default();
        assert_eq!(Scalars::new(config, 16_628).bc2, 1.0);
        assert!(Scalars::new(config, 16_627).bc2 < 1.0);
        let mut divisors: Vec<u32> = (1..16_628)
            .map(|t| Scalars::new(config, t).bc2.to_bits())
            .collect();
        divisors.sort_unstable();
        divisors.dedup();
        let half = divisors.len() / 2;
        let inexact = |part: &[u32]| -> Vec<u32> {
            part.iter()
                .copied()
                .filter(|&c| !fused_div_is_exact(f32::from_bits(c)))
                .collect()
        };
        let (low, high) = divisors.split_at(half);
        let mut found = std::thread::scope(|scope| {
            let other = scope.spawn(|| inexact(high));
            let mut found = inexact(low);
            found.extend(other.join().expect("checker thread"));
            found
        });
        found.sort_unstable();
        if std::env::var_os("NPFL_PRINT_FUSED_INEXACT").is_some() {
            for chunk in found.chunks(6) {
                let line: Vec<String> = chunk.iter().map(|c| format!("0x{c:08x},")).collect();
                println!("    {}", line.join(" "));
            }
        }
        assert_eq!(
            found,
            FUSED_INEXACT,
            "{} of {} divisors inexact",
            found.len(),
            divisors.len()
        );
        // Scalars only uses the fused division where it is exact.
        for t in 1..16_700 {
            let s = Scalars::new(config, t);
            assert_eq!(s.fused, !found.contains(&s.bc2.to_bits()), "step {t}");
        }
    }

    /// The float64-reciprocal division equals float32 division for Adam's divisors and many dividends.
    #[test]
    fn division_by_a_constant_is_exact() {
        let mut g = TorchGenerator::new(11);
        for step in 1..=20_000u32 {
            let c = (1.0 - 0.999f64.powf(f64::from(step))).powf(0.5) as f32;
            let inv = 1.0 / f64::from(c);
            for _ in 0..50 {
                // Random positive float32 bit patterns over the whole exponent range.
                let x = f32::from_bits(g.random() & 0x7fff_ffff);
                let (a, b) = (x / c, div_by_constant(x, inv));
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{x} / {c}: {a} vs {b}"
                );
            }
        }
        for c in [1.0f32, 0.031_622_78, 0.5, 0.999_999_9] {
            let inv = 1.0 / f64::from(c);
            for bits in (0..0x7f80_0000u32).step_by(997) {
                let x = f32::from_bits(bits);
                assert_eq!(
                    (x / c).to_bits(),
                    div_by_constant(x, inv).to_bits(),
                    "{x} / {c}"
                );
            }
        }
    }

    /// Two steps computed by hand (in f64, then compared to the float32 result).
    #[test]
    fn two_steps_by_hand() {
        let mut adam = Adam::new(AdamConfig::default(), 3);
        let mut p = [1.0f32, -2.0, 0.5];
        let g1 = [0.1f32, -3.0, 0.0];
        adam.step(&mut p, &g1);
        // Step 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2: p -= lr * g / (|g| + eps).
        let expect1 = [
            1.0 - 1e-3 * 0.1 / (0.1 + 1e-8),
            -2.0 + 1e-3 * 3.0 / (3.0 + 1e-8),
            0.5,
        ];
        for (a, e) in p.iter().zip(expect1) {
            assert!((*a as f64 - e).abs() < 1e-7, "{a} vs {e}");
        }
        assert_eq!(adam.steps(), 1);
        let g2 = [0.2f32, 1.0, 0.0];
        adam.step(&mut p, &g2);
        for i in 0..3 {
            let (a, b) = (g1[i] as f64, g2[i] as f64);
            let m = 0.9 * 0.1 * a + 0.1 * b;
            let v = 0.999 * 0.001 * a * a + 0.001 * b * b;
            let m_hat = m / (1.0 - 0.81);
            let v_hat = v / (1.0 - 0.999f64 * 0.999);
            let e = expect1[i] - 1e-3 * m_hat / (v_hat.sqrt() + 1e-8);
            assert!((p[i] as f64 - e).abs() < 1e-7, "param {i}: {} vs {e}", p[i]);
            assert!((adam.exp_avg()[i] as f64 - m).abs() < 1e-7);
            assert!((adam.exp_avg_sq()[i] as f64 - v).abs() < 1e-9);
        }
    }

    #[test]
    fn follows_torch_float32_rounding() {
        // The exact float32 sequence of operations of torch's default-capability kernels.
        let mut adam = Adam::new(AdamConfig::default(), 1);
        let mut p = [0.3f32];
        adam.step(&mut p, &[0.7]);
        let m = 0.0f32 + 0.1f32 * (0.7 - 0.0);
        let v = 0.0f32 * 0.999f32 + 0.001f32 * 0.7 * 0.7;
        let bc2 = (1.0f64 - 0.999f64.powf(1.0)).powf(0.5) as f32;
        let denom = v.sqrt() / bc2 + 1e-8f32;
        let step = (-(1e-3 / (1.0 - 0.9f64.powf(1.0)))) as f32;
        assert_eq!(p[0], 0.3f32 + step * m / denom);
    }
}
