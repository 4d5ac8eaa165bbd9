//! Megalodon (being written).
