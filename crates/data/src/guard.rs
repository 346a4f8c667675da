//! Containing panics of third-party decoders on hostile input. `parquet` and `tokenizers` can
//! panic on corrupt files (this workspace's fuzz tests found both); a reader runs such a call
//! through [`contain`] and reports the panic as an error naming the file. While a thread is
//! inside [`contain`], the panic hook stays quiet for it (the message goes into the error, not
//! onto stderr); every other panic reaches the hook that was installed before.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once, a panic hook that is silent on threads inside [`contain`].
fn quiet_while_contained() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the decoder panicked".into())
}

/// `step`'s result, or the message of the panic it raised. Whatever `step` touched must not
/// be used again after a panic.
pub fn contain<T>(step: impl FnOnce() -> T) -> Result<T, String> {
    quiet_while_contained();
    let outer = CONTAINED.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(step));
    CONTAINED.with(|c| c.set(outer));
    result.map_err(|payload| panic_message(payload.as_ref()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_becomes_its_message_and_values_pass_through() {
        assert_eq!(super::contain(|| 3), Ok(3));
        let message = super::contain(|| -> u8 { panic!("corrupt page {}", 7) }).unwrap_err();
        assert_eq!(message, "corrupt page 7");
    }
}
