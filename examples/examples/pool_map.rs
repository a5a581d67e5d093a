//! A `Pool` of 4 worker processes maps `x * x` over 0..10; the results come
//! back in input order.
//!
//! ```text
//! [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
//! ```

use ipc_pool::Pool;

fn worker(x: u64) -> u64 {
    x * x
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Dropping the pool at the end of the block ends its workers, as
    // leaving Python's `with Pool(...) as pool:` does.
    {
        let pool = Pool::new(4)?;
        let results = pool.map(worker, 0..10)?;
        println!("{results:?}");
    }
    Ok(())
}
