//! The load: when queries arrive (`arrivals`), how large they are (`sizes`), and the two ways of
//! offering them to the engine: an open-loop generator thread (`open`) and a closed loop (`closed`).

pub mod arrivals;
pub mod closed;
pub mod open;
pub mod sizes;
