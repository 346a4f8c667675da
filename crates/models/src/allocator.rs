//! The process's allocator settings for training.
//!
//! A training step allocates the same large temporaries (activations, logits blocks, their
//! gradients) every step and frees them at its end. glibc's malloc serves large requests with
//! fresh `mmap`s whose threshold it adapts, and gives the top of the heap back to the system
//! when it is freed, so each step faults in and zeroes many of those pages again (10 % of W2's
//! profile was the kernel's `clear_page_erms`). Serving requests up to 32 MiB from the heap
//! and keeping freed memory there lets the next step reuse it: measured on W2, 1.64 / 1.58 s →
//! 1.35 / 1.48 s per step in alternating runs (docs/benchmarks.md); W5's larger buffers stay
//! above the threshold and its time did not change.

/// Serve allocations up to 32 MiB from the heap and keep freed memory in it (glibc on Linux;
/// elsewhere nothing). Call once, early in `main`; the resident size then stays at the peak of
/// a step instead of falling between steps.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD: libc::c_int = 32 << 20;
        const TRIM_THRESHOLD: libc::c_int = 1 << 30;
        const TOP_PAD: libc::c_int = 256 << 20;
        // SAFETY: mallopt only changes malloc's tuning parameters; it is called before the
        // process starts its worker threads.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
        }
    }
}
