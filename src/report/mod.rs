//! Reports: what certsh has (`certsh load`, `certsh status`) and what is wrong
//! with the set-up (`certsh doctor`).

pub mod doctor;
pub mod show;
