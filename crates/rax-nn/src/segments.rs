//! Packed-sequence metadata derived from per-token segment ids (0 = padding): which tokens are
//! real, where a contiguous run starts (position 0 always does; later positions when the id
//! changes), run numbers (1, 2, ... per row; equal only inside one contiguous run, so a reused id
//! for a later document is a different run) and run-local positions. ComplexEMA, TimestepNorm,
//! chunked attention, RoPE and the loss all derive their resets from this one definition, so
//! packed documents stay isolated in every mechanism alike.
//!
//! Depends on rax-core.

use rax_core::{DType, Tensor};

/// The metadata of `segment_ids [B, L]` (all `[B, L]`).
#[derive(Clone, Debug)]
pub struct SegmentMetadata {
    /// True where the token belongs to a real segment (id > 0).
    pub valid: Tensor,
    /// True where a contiguous run starts.
    pub boundaries: Tensor,
    /// i32 run number, starting at 1 in each row.
    pub run_ids: Tensor,
    /// i32 offset of each token from its run's first token.
    pub local_positions: Tensor,
}

/// Derives [`SegmentMetadata`] from integer `segment_ids [B, L]`.
#[track_caller]
pub fn derive(segment_ids: &Tensor) -> SegmentMetadata {
    let seg = segment_ids.cast(DType::I32);
    let dims = seg.dims();
    let (b, l) = (
        dims.first().copied().unwrap_or(0),
        dims.get(1).copied().unwrap_or(0),
    );
    let valid = seg.gt(&Tensor::scalar_of(0.0, DType::I32));
    let boundaries = if l <= 1 {
        Tensor::full(&[b, l], 1.0, DType::Bool)
    } else {
        let change = seg.slice_axis(1, 1, l).ne(&seg.slice_axis(1, 0, l - 1));
        Tensor::concat(&[Tensor::full(&[b, 1], 1.0, DType::Bool), change], 1)
    };
    let run_ids = boundaries.cast(DType::I32).cumsum(1, false);
    let positions = Tensor::iota(&[b, l], 1, DType::I32);
    let starts = Tensor::select(&boundaries, &positions, &Tensor::scalar_of(0.0, DType::I32))
        .cummax(1, false);
    SegmentMetadata {
        valid,
        boundaries,
        run_ids,
        local_positions: &positions - &starts,
    }
}

/// Per row, the index of the last valid token (`-1` for a row without one), i32 `[B]`.
#[track_caller]
pub fn last_valid_index(valid: &Tensor) -> Tensor {
    let dims = valid.dims();
    let l = dims.get(1).copied().unwrap_or(0);
    let positions = Tensor::iota(&dims, 1, DType::I32);
    let _ = l;
    Tensor::select(valid, &positions, &Tensor::scalar_of(-1.0, DType::I32)).max(&[1])
}
