//! DeepSeek-V2/V3 (being written).
