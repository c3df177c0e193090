//! `ktx-release soak`: installs interrupted at random moments (see `ktx_release::soak`).

use crate::flags;
use anyhow::Result;
use ktx_release::layout::ReleaseLayout;
use ktx_release::soak;

pub fn run(layout: &ReleaseLayout, args: flags::Soak) -> Result<()> {
    soak::run(
        &layout.repo,
        &soak::default_dir(&layout.repo),
        &soak::Options {
            kills: args.kills,
            interrupts: args.interrupts,
            load: args.load,
            max_delay_ms: args.max_delay_ms,
        },
    )
}
