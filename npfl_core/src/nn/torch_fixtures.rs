//! Bit-for-bit checks against PyTorch: `fixtures/torch_streams.py` printed the checksums in
//! `fixtures/torch_streams_{default,avx512}.txt` with torch 2.15 (ATEN_CPU_CAPABILITY=default, and the
//! AVX512 build torch picks by itself); this replays the same sequence and must print the same text.

use std::fmt::Write;

use super::{Adam, AdamConfig, CourseRng, Mlp, MlpConfig, activation::Activation};
use crate::rng::torch::{CpuCapability, TorchGenerator};

fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn fnv_u32(values: impl IntoIterator<Item = u32>) -> u64 {
    fnv(values.into_iter().flat_map(u32::to_le_bytes))
}

fn run(
    out: &mut String,
    cap: CpuCapability,
    recodex: bool,
    hidden_layers: usize,
    train: usize,
    dev: usize,
    epochs: usize,
) {
    let mut rng = CourseRng::new(42, recodex).with_capability(cap);
    let cfg = MlpConfig {
        inputs: 784,
        hidden_layers,
        hidden_layer_size: 100,
        outputs: 10,
        activation: Activation::Relu,
    };
    let model = Mlp::new(cfg, &mut rng).unwrap();
    let tag = format!(
        "{} seed=42 hidden_layers={hidden_layers}",
        if recodex { "recodex" } else { "global" }
    );
    for l in 0..model.num_layers() {
        let (fan_in, fan_out) = model.layer_shape(l);
        let w = model.torch_weight(l);
        let first: Vec<String> = w[..4]
            .iter()
            .map(|v| format!("{:08x}", v.to_bits()))
            .collect();
        writeln!(
            out,
            "{tag} weight{l} {fan_out}x{fan_in} fnv={:016x} first={}",
            fnv_u32(w.iter().map(|v| v.to_bits())),
            first.join(" ")
        )
        .unwrap();
    }
    let mut order = Vec::new();
    for epoch in 1..=epochs {
        rng.train_epoch_order(train, &mut order);
        let first: Vec<String> = order[..8].iter().map(u32::to_string).collect();
        writeln!(
            out,
            "{tag} n={train} epoch{epoch} fnv={:016x} first={}",
            fnv_u32(order.iter().copied()),
            first.join(" ")
        )
        .unwrap();
        let _ = dev;
        rng.dev_iteration();
    }
}

/// torch's Adam with the two multiply-adds its AVX2/AVX-512 kernels fuse (lerp and addcmul); test-only,
/// since `f32::mul_add` is a library call without a compile-time FMA target.
fn adam_fused(adam: &mut (u64, Vec<f32>, Vec<f32>), params: &mut [f32], grads: &[f32]) {
    let c = AdamConfig::default();
    adam.0 += 1;
    let t = adam.0 as f64;
    let step_size = c.lr / (1.0 - c.beta1.powf(t));
    let bc2 = (1.0 - c.beta2.powf(t)).powf(0.5) as f32;
    for i in 0..params.len() {
        let g = grads[i];
        let m = &mut adam.1[i];
        *m = ((1.0 - c.beta1) as f32).mul_add(g - *m, *m);
        let v = &mut adam.2[i];
        *v *= c.beta2 as f32;
        *v = ((1.0 - c.beta2) as f32 * g).mul_add(g, *v);
        let denom = v.sqrt() / bc2 + c.eps as f32;
        params[i] += (-step_size) as f32 * *m / denom;
    }
}

fn adam(out: &mut String, cap: CpuCapability) {
    let mut g = TorchGenerator::new(7);
    let mut p = vec![0.0f32; 1000];
    g.uniform_f32(&mut p, -1.0, 1.0, cap);
    let mut ours = Adam::new(AdamConfig::default(), 1000);
    let mut fused = (0, vec![0.0; 1000], vec![0.0; 1000]);
    let mut grad = vec![0.0f32; 1000];
    for step in 1..=3 {
        g.uniform_f32(&mut grad, -0.01 * step as f64, 0.02, cap);
        match cap {
            CpuCapability::Default => ours.step(&mut p, &grad),
            CpuCapability::Fma => adam_fused(&mut fused, &mut p, &grad),
        }
        writeln!(
            out,
            "adam seed=7 step{step} fnv={:016x}",
            fnv_u32(p.iter().map(|v| v.to_bits()))
        )
        .unwrap();
    }
}

fn replay(cap: CpuCapability) -> String {
    let mut out = String::new();
    for recodex in [true, false] {
        for hidden_layers in [0, 1, 3] {
            run(&mut out, cap, recodex, hidden_layers, 55000, 5000, 2);
        }
    }
    run(&mut out, cap, true, 1, 8000, 1000, 1);
    run(&mut out, cap, false, 1, 8000, 1000, 1);
    adam(&mut out, cap);
    out
}

fn expected(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn weights_orders_and_adam_match_torch_default_capability() {
    let text = include_str!("fixtures/torch_streams_default.txt");
    assert_eq!(replay(CpuCapability::Default), expected(text));
}

#[test]
fn weights_orders_and_fused_adam_match_torch_avx512() {
    let text = include_str!("fixtures/torch_streams_avx512.txt");
    assert_eq!(replay(CpuCapability::Fma), expected(text));
}
