//! The context pool: contexts, with their buffers, reused across requests.
//!
//! Pooling is safe in tether where it is not in Gin: a handler only borrows the context
//! (`&mut Context`) for the length of its call, so nothing can hold on to it after the
//! request. Each worker thread keeps its own small free list, so taking and returning a
//! context takes no lock.

use std::cell::RefCell;

use crate::Context;

/// Contexts kept per thread; beyond this, returned contexts are freed.
const PER_THREAD: usize = 256;

thread_local! {
    // Boxed so that a context moves in and out of the list as one pointer, never as a
    // few hundred bytes.
    #[allow(clippy::vec_box)]
    static FREE: RefCell<Vec<Box<Context>>> = const { RefCell::new(Vec::new()) };
}

/// A context ready for a request: a reused one when the thread has one.
pub(crate) fn take() -> Box<Context> {
    FREE.try_with(|f| f.borrow_mut().pop()).ok().flatten().unwrap_or_else(|| Box::new(Context::new()))
}

/// Resets `ctx` and keeps it for the next request on this thread.
pub(crate) fn give(mut ctx: Box<Context>) {
    ctx.reset();
    let _ = FREE.try_with(|f| {
        let mut free = f.borrow_mut();
        if free.len() < PER_THREAD {
            free.push(ctx);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_context_is_reused_and_clean() {
        let mut ctx = take();
        ctx.set("k", 1u32);
        ctx.status(404);
        ctx.header("x-a", "b");
        let addr: *const Context = &*ctx;
        give(ctx);
        let again = take();
        assert_eq!(addr, &*again as *const Context, "the same allocation comes back");
        assert!(again.get::<u32>("k").is_none());
        assert_eq!(again.response_status(), 200);
        assert!(again.response_headers().is_empty());
    }
}
