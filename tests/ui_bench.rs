//! The UI's numbers for `poolscope bench`, runnable alone:
//! `cargo test --release --test ui_bench -- --ignored --nocapture`.
#![cfg(feature = "ui")]

#[test]
#[ignore = "a measurement, not a check; run with --release --ignored --nocapture"]
fn print_frame_us_and_idle_cpu() {
    println!("frame_us {:.0}", poolscope::ui::bench::frame_us());
    println!("ui_idle_cpu_pct {:.2}", poolscope::ui::bench::idle_cpu_pct());
}

#[test]
fn the_busy_run_feeds_the_view_in_order() {
    let events = poolscope::ui::bench::busy_run(4, 1);
    assert!(events.windows(2).all(|w| w[0].t <= w[1].t));
    let mut view =
        poolscope::ui::View::new(poolscope::ui::Lesson::of(&poolscope::scenario::load("pool-basics").unwrap()));
    for e in &events {
        view.apply(e);
    }
    assert_eq!(view.timeline.counts.total(), view.model.tasks.len());
    assert!(view.timeline.counts.done > 10);
}
