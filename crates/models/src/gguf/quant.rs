//! GGML tensor types and their dequantization to f32, block by block, as llama.cpp defines
//! each format (`ggml-common.h` for the block structs, `ggml-quants.c` for the arithmetic).
//!
//! A block packs `block_size` values into `type_size` bytes; the scale fields are little-endian
//! f16. The K-quants pack 256 values in sub-blocks with 4- or 6-bit scales. Each function here
//! turns whole blocks into values in order; `tests/gguf_blocks.rs` checks every type against
//! the `gguf` Python package's reference dequantization.

use half::{bf16, f16};

/// Values per K-quant super-block.
const QK_K: usize = 256;

/// A GGML tensor type this crate can read (the `ggml_type` ids of GGUF tensor infos).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
}

impl GgmlType {
    /// The type of a GGUF tensor-info id, or `None` for one this crate does not read (the
    /// i-quants, Q8_1, Q8_K and the integer types are not weight formats of the supported
    /// checkpoints).
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            10 => Self::Q2K,
            11 => Self::Q3K,
            12 => Self::Q4K,
            13 => Self::Q5K,
            14 => Self::Q6K,
            30 => Self::BF16,
            _ => return None,
        })
    }

    /// llama.cpp's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q2K => "Q2_K",
            Self::Q3K => "Q3_K",
            Self::Q4K => "Q4_K",
            Self::Q5K => "Q5_K",
            Self::Q6K => "Q6_K",
        }
    }

    /// Values per block.
    pub fn block_size(self) -> usize {
        match self {
            Self::F32 | Self::F16 | Self::BF16 => 1,
            Self::Q4_0 | Self::Q4_1 | Self::Q5_0 | Self::Q5_1 | Self::Q8_0 => 32,
            Self::Q2K | Self::Q3K | Self::Q4K | Self::Q5K | Self::Q6K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q8_0 => 34,
            Self::Q2K => 84,
            Self::Q3K => 110,
            Self::Q4K => 144,
            Self::Q5K => 176,
            Self::Q6K => 210,
        }
    }

    /// Bytes of `values` values, or `None` when `values` is not a whole number of blocks.
    pub fn bytes_for(self, values: usize) -> Option<usize> {
        values
            .is_multiple_of(self.block_size())
            .then(|| (values / self.block_size()).checked_mul(self.type_size()))
            .flatten()
    }
}

fn half_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// Dequantizes `data` (whole blocks of `ty`) to f32 values in order. The caller checks that
/// `data.len()` is a whole number of blocks ([`GgmlType::bytes_for`]).
pub fn dequantize(ty: GgmlType, data: &[u8]) -> Vec<f32> {
    let blocks = data.chunks_exact(ty.type_size());
    let mut out = Vec::with_capacity(data.len() / ty.type_size() * ty.block_size());
    for block in blocks {
        match ty {
            GgmlType::F32 => out.push(f32::from_le_bytes([block[0], block[1], block[2], block[3]])),
            GgmlType::F16 => out.push(half_at(block, 0)),
            GgmlType::BF16 => out.push(bf16::from_le_bytes([block[0], block[1]]).to_f32()),
            GgmlType::Q4_0 => q4_0(block, &mut out),
            GgmlType::Q4_1 => q4_1(block, &mut out),
            GgmlType::Q5_0 => q5_0(block, &mut out),
            GgmlType::Q5_1 => q5_1(block, &mut out),
            GgmlType::Q8_0 => q8_0(block, &mut out),
            GgmlType::Q2K => q2_k(block, &mut out),
            GgmlType::Q3K => q3_k(block, &mut out),
            GgmlType::Q4K => q4_k(block, &mut out),
            GgmlType::Q5K => q5_k(block, &mut out),
            GgmlType::Q6K => q6_k(block, &mut out),
        }
    }
    out
}

/// `d: f16, qs: [u8; 16]`: low nibbles are values 0..16, high nibbles 16..32, offset by 8.
fn q4_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half_at(block, 0);
    let qs = &block[2..18];
    out.extend(qs.iter().map(|&q| (f32::from(q & 0xF) - 8.0) * d));
    out.extend(qs.iter().map(|&q| (f32::from(q >> 4) - 8.0) * d));
}

/// `d, m: f16, qs: [u8; 16]`: x = q·d + m.
fn q4_1(block: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (half_at(block, 0), half_at(block, 2));
    let qs = &block[4..20];
    out.extend(qs.iter().map(|&q| f32::from(q & 0xF) * d + m));
    out.extend(qs.iter().map(|&q| f32::from(q >> 4) * d + m));
}

/// The fifth bits of a Q5 block: bit `j` of `qh` belongs to value `j`.
fn fifth_bits(qh: &[u8]) -> u32 {
    u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]])
}

/// `d: f16, qh: u32, qs: [u8; 16]`: 5-bit values offset by 16.
fn q5_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half_at(block, 0);
    let qh = fifth_bits(&block[2..6]);
    let qs = &block[6..22];
    for (half, shift) in [(0, 0), (1, 4)] {
        for (j, &q) in qs.iter().enumerate() {
            let high = ((qh >> (j + 16 * half)) & 1) << 4;
            let value = ((u32::from(q) >> shift) & 0xF) | high;
            out.push((value as f32 - 16.0) * d);
        }
    }
}

/// `d, m: f16, qh: u32, qs: [u8; 16]`: x = q·d + m with 5-bit q.
fn q5_1(block: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (half_at(block, 0), half_at(block, 2));
    let qh = fifth_bits(&block[4..8]);
    let qs = &block[8..24];
    for (half, shift) in [(0, 0), (1, 4)] {
        for (j, &q) in qs.iter().enumerate() {
            let high = ((qh >> (j + 16 * half)) & 1) << 4;
            let value = ((u32::from(q) >> shift) & 0xF) | high;
            out.push(value as f32 * d + m);
        }
    }
}

/// `d: f16, qs: [i8; 32]`.
fn q8_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half_at(block, 0);
    out.extend(block[2..34].iter().map(|&q| f32::from(q as i8) * d));
}

/// `scales: [u8; 16], qs: [u8; 64], d, dmin: f16`: 2-bit values in 16 sub-blocks of 16, each
/// with a 4-bit scale (low nibble) and a 4-bit min (high nibble).
fn q2_k(block: &[u8], out: &mut Vec<f32>) {
    let scales = &block[0..16];
    let (d, min) = (half_at(block, 80), half_at(block, 82));
    let mut is = 0;
    for half in 0..2 {
        let q = &block[16 + 32 * half..16 + 32 * (half + 1)];
        for shift in [0, 2, 4, 6] {
            for part in 0..2 {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * f32::from(sc & 0xF), min * f32::from(sc >> 4));
                for &byte in &q[16 * part..16 * (part + 1)] {
                    out.push(dl * f32::from((byte >> shift) & 3) - ml);
                }
            }
        }
    }
}

/// The 16 signed 6-bit scales of a Q3_K block, packed in 12 bytes.
fn q3_k_scales(packed: &[u8]) -> [i8; 16] {
    let word = |i: usize| {
        u32::from_le_bytes([
            packed[4 * i],
            packed[4 * i + 1],
            packed[4 * i + 2],
            packed[4 * i + 3],
        ])
    };
    let (kmask1, kmask2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
    let (a0, a1, tmp) = (word(0), word(1), word(2));
    let words = [
        (a0 & kmask2) | ((tmp & kmask1) << 4),
        (a1 & kmask2) | (((tmp >> 2) & kmask1) << 4),
        ((a0 >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4),
        ((a1 >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4),
    ];
    let mut scales = [0i8; 16];
    for (i, w) in words.iter().enumerate() {
        for (k, byte) in w.to_le_bytes().iter().enumerate() {
            scales[4 * i + k] = *byte as i8;
        }
    }
    scales
}

/// `hmask: [u8; 32], qs: [u8; 64], scales: [u8; 12], d: f16`: 3-bit values (2 low bits in
/// `qs`, the high bit in `hmask`, a cleared bit subtracting 4), 6-bit scales offset by 32.
fn q3_k(block: &[u8], out: &mut Vec<f32>) {
    let hmask = &block[0..32];
    let scales = q3_k_scales(&block[96..108]);
    let d_all = half_at(block, 108);
    let mut is = 0;
    let mut bit = 1u8;
    for half in 0..2 {
        let q = &block[32 + 32 * half..32 + 32 * (half + 1)];
        for shift in [0, 2, 4, 6] {
            for part in 0..2 {
                let dl = d_all * f32::from(i16::from(scales[is]) - 32);
                is += 1;
                for l in 16 * part..16 * (part + 1) {
                    let low = i16::from((q[l] >> shift) & 3);
                    let high = if hmask[l] & bit != 0 { 0 } else { 4 };
                    out.push(dl * f32::from(low - high));
                }
            }
            bit <<= 1;
        }
    }
}

/// Scale and min `j` of the 8 sub-blocks of a Q4_K / Q5_K block (6 bits each, in 12 bytes).
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// `d, dmin: f16, scales: [u8; 12], qs: [u8; 128]`: 4-bit values in 8 sub-blocks of 32.
fn q4_k(block: &[u8], out: &mut Vec<f32>) {
    let (d, min) = (half_at(block, 0), half_at(block, 2));
    let scales = &block[4..16];
    for pair in 0..4 {
        let q = &block[16 + 32 * pair..16 + 32 * (pair + 1)];
        let (s1, m1) = scale_min_k4(2 * pair, scales);
        let (s2, m2) = scale_min_k4(2 * pair + 1, scales);
        let (d1, m1) = (d * f32::from(s1), min * f32::from(m1));
        let (d2, m2) = (d * f32::from(s2), min * f32::from(m2));
        out.extend(q.iter().map(|&b| d1 * f32::from(b & 0xF) - m1));
        out.extend(q.iter().map(|&b| d2 * f32::from(b >> 4) - m2));
    }
}

/// `d, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128]`: Q4_K with a fifth bit.
fn q5_k(block: &[u8], out: &mut Vec<f32>) {
    let (d, min) = (half_at(block, 0), half_at(block, 2));
    let scales = &block[4..16];
    let qh = &block[16..48];
    for pair in 0..4 {
        let ql = &block[48 + 32 * pair..48 + 32 * (pair + 1)];
        let (s1, m1) = scale_min_k4(2 * pair, scales);
        let (s2, m2) = scale_min_k4(2 * pair + 1, scales);
        let (d1, m1) = (d * f32::from(s1), min * f32::from(m1));
        let (d2, m2) = (d * f32::from(s2), min * f32::from(m2));
        let (u1, u2) = (1u8 << (2 * pair), 2u8 << (2 * pair));
        for (l, &b) in ql.iter().enumerate() {
            let high = if qh[l] & u1 != 0 { 16.0 } else { 0.0 };
            out.push(d1 * (f32::from(b & 0xF) + high) - m1);
        }
        for (l, &b) in ql.iter().enumerate() {
            let high = if qh[l] & u2 != 0 { 16.0 } else { 0.0 };
            out.push(d2 * (f32::from(b >> 4) + high) - m2);
        }
    }
}

/// `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16`: 6-bit values offset by 32, 16
/// sub-blocks of 16 with signed 8-bit scales.
fn q6_k(block: &[u8], out: &mut Vec<f32>) {
    let d = half_at(block, 208);
    let scale = |i: usize| f32::from(block[192 + i] as i8);
    for half in 0..2 {
        let ql = &block[64 * half..64 * (half + 1)];
        let qh = &block[128 + 32 * half..128 + 32 * (half + 1)];
        let sc = 8 * half;
        let mut values = [0f32; 128];
        for l in 0..32 {
            let is = l / 16;
            let q = |low: u8, high_shift: u32| {
                f32::from(((low | (((qh[l] >> high_shift) & 3) << 4)) as i8) - 32)
            };
            values[l] = d * scale(sc + is) * q(ql[l] & 0xF, 0);
            values[l + 32] = d * scale(sc + is + 2) * q(ql[l + 32] & 0xF, 2);
            values[l + 64] = d * scale(sc + is + 4) * q(ql[l] >> 4, 4);
            values[l + 96] = d * scale(sc + is + 6) * q(ql[l + 32] >> 4, 6);
        }
        out.extend(values);
    }
}
