//! The header: the lesson, the pool, the clock and whether the picture is live or paused.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::state::{UiState, short_us};
use super::view::View;
use crate::pool::PoolKind;
use crate::trace::EngineChoice;

/// Draws the header line.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let model = &view.model;
    let state = if model.ended() {
        Span::styled(
            if ui.comparing || ui.recording { " ■ finished " } else { " ■ finished: r again, n next " },
            ui.paint(Style::new().fg(Color::Black).bg(Color::Green), Style::new().add_modifier(Modifier::REVERSED)),
        )
    } else if let Some(live) = ui.rewound_from {
        Span::styled(
            format!(" ⏪ REWOUND from {} · ←/→ scrub · space: live ", short_us(live)),
            ui.paint(Style::new().fg(Color::Black).bg(Color::Magenta), Style::new().add_modifier(Modifier::REVERSED)),
        )
    } else if ui.paused {
        Span::styled(
            format!(" ‖ PAUSED · {} events held ", ui.held),
            ui.paint(Style::new().fg(Color::Black).bg(Color::Yellow), Style::new().add_modifier(Modifier::REVERSED)),
        )
    } else if ui.reading {
        Span::styled(
            " ▶ reading the caption ",
            ui.paint(Style::new().fg(Color::Black).bg(Color::Cyan), Style::new().add_modifier(Modifier::REVERSED)),
        )
    } else {
        Span::styled(
            " ▶ live ",
            ui.paint(Style::new().fg(Color::Black).bg(Color::Cyan), Style::new().add_modifier(Modifier::REVERSED)),
        )
    };
    let kind = model.pool.unwrap_or(view.lesson.kind);
    // The size the pool has now; after a live `+`/`-` the code panel still shows the lesson's.
    let workers = if kind == PoolKind::Coroutine {
        "1 loop thread".to_string()
    } else if model.code_size != model.pool_size && model.code_size > 0 {
        format!("{} workers (the lesson's code is for {})", model.pool_size, model.code_size)
    } else {
        format!("{} workers", model.pool_size)
    };
    let gil = if model.gil { " + GIL" } else { "" };
    let position = ui.lesson.map_or(String::new(), |(i, n)| format!("{}/{} ", i + 1, n));
    let cpython = model.engine == EngineChoice::Cpython;
    let clock = match (cpython, model.virtual_time) {
        (true, _) => "CPYTHON",
        (false, true) => "SIM time",
        (false, false) => "REAL time",
    };
    let speed = if (ui.speed - 1.0).abs() > f64::EPSILON { format!("{}× speed", ui.speed) } else { String::new() };
    let behind = match ui.behind {
        Some(lag) => Span::styled(format!("(pool +{}) ", short_us(lag.as_micros() as u64)), ui.dim()),
        None => Span::raw(""),
    };
    // What does not fit is dropped whole, least important first: the speed, the clock's
    // kind, the pool's description; the title loses its last words, never half of one.
    let width = area.width as usize;
    let title = format!("{position}{}", view.lesson.title);
    let mut state = state;
    if model.ended() && state.content.chars().count() + 8 + title.chars().count() > width {
        // The keys are in the footer too; the title matters more.
        state.content = " ■ finished ".into();
    }
    let fixed = vec![
        state,
        Span::styled(format!(" {:>5} ", short_us(view.now_us)), Style::new().add_modifier(Modifier::BOLD)),
        behind,
    ];
    let fixed_w: usize = fixed.iter().map(|s| s.content.chars().count()).sum();
    let mut tail = vec![format!("{kind} pool, {workers}{gil}"), clock.to_string(), speed];
    tail.retain(|t| !t.is_empty());
    let tail_text = |tail: &[String]| -> String {
        tail.iter().enumerate().map(|(i, t)| if i == 0 { format!("  ·  {t}") } else { format!(" · {t}") }).collect()
    };
    let room = width.saturating_sub(fixed_w);
    // On CPython, which engine runs matters more than the pool's description (its code says
    // that too): the description goes first, and the title gives way to CPYTHON, which stays
    // (a run on CPython must never read as poolscope's own).
    while !tail.is_empty() && title.chars().count() + tail_text(&tail).chars().count() > room {
        let last = tail.len() - 1;
        if cpython && last == 0 && tail[0] == clock {
            break;
        }
        tail.remove(if cpython && last > 0 && tail[last] == clock { 0 } else { last });
    }
    let mut line = fixed;
    let title_room = room.saturating_sub(tail_text(&tail).chars().count());
    line.push(Span::styled(fit_words(&title, title_room), Style::new().add_modifier(Modifier::BOLD)));
    line.push(Span::styled(tail_text(&tail), ui.dim()));
    frame.render_widget(Paragraph::new(Line::from(line)), area);
}

/// `text` cut to `room` columns at a word boundary, with `…` when words were dropped.
pub fn fit_words(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_string();
    }
    let mut out = String::new();
    for word in text.split(' ') {
        let next = if out.is_empty() { word.to_string() } else { format!("{out} {word}") };
        if next.chars().count() + 1 > room {
            break;
        }
        out = next;
    }
    if out.is_empty() {
        // Not even one word fits: cut it, marked.
        let cut: String = text.chars().take(room.saturating_sub(1)).collect();
        return if room == 0 { String::new() } else { format!("{cut}…") };
    }
    format!("{}…", out.trim_end_matches([':', ',', ';']))
}
