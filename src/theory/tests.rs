use super::*;

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance
}

#[test]
fn erlang_c_matches_the_call_centre_helper_worked_example() {
    // Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked Example": 100
    // calls in 30 minutes, an average handling time of 180 s, so A = 10 erlangs; with 11
    // agents the probability of waiting is 68.21 % and the average speed of answer
    // Pw·AHT/(N − A) = 122.8 s. (Recomputed from the closed form in Python:
    // 0.6821182046893324 and 122.78 s.)
    let queue = mmc(100.0 / 1800.0, 180.0, 11).unwrap();
    assert!(close(queue.offered_load, 10.0, 1e-12));
    assert!(close(queue.p_wait, 0.6821, 5e-5), "{}", queue.p_wait);
    assert!(close(queue.mean_wait, 122.8, 0.05), "{}", queue.mean_wait);
    assert!(close(queue.utilisation, 10.0 / 11.0, 1e-12));
}

#[test]
fn erlang_c_matches_the_textbook_shop_example() {
    // A textbook exercise quoted on Mathematics Stack Exchange ("probability of a customer
    // joining a queue via the Erlang C curve"): 120 customers an hour, 3 minutes each, 10
    // assistants, A = 6 erlangs — "from the Erlang C curve ... the probability of waiting is
    // about 0.10". The closed form gives 0.10129924268741749.
    let p = erlang_c(10, 6.0).unwrap();
    assert!(close(p, 0.101_299_242_687_417_5, 1e-12), "{p}");
    assert_eq!(mmc(2.0, 3.0, 10).map(|q| (q.p_wait * 100.0).round()), Ok(10.0));
}

#[test]
fn erlang_c_matches_exact_fractions() {
    // The closed form in exact rationals (Python's fractions): C(3, 2) = 4/9 (Mathematica's
    // ErlangC[3, 2] basic example); two 1 Mb/s lines, 150 packets/s of 10 kb on average, so
    // μ = 100/s per line and A = 1.5: C(2, 1.5) = 9/14. M/M/1 waits with chance ρ.
    assert!(close(erlang_c(3, 2.0).unwrap(), 4.0 / 9.0, 1e-15));
    assert!(close(erlang_c(2, 1.5).unwrap(), 9.0 / 14.0, 1e-15));
    let queue = mmc(150.0, 0.01, 2).unwrap();
    // Wq = C/(cμ − λ) = (9/14)/50 s.
    assert!(close(queue.mean_wait, 9.0 / 14.0 / 50.0, 1e-15));
    let one = mmc(0.5, 1.0, 1).unwrap();
    assert!(close(one.p_wait, 0.5, 1e-15));
    // M/M/1: Wq = ρ/(μ − λ) = 1, L = ρ/(1 − ρ) = 1.
    assert!(close(one.mean_wait, 1.0, 1e-15) && close(one.mean_in_system, 1.0, 1e-15));
}

#[test]
fn erlang_c_stays_accurate_at_a_thousand_workers() {
    // A^c/c! overflows a double long before c = 1024; the Erlang B recursion does not.
    // References computed in Python with 60-digit decimals.
    for (c, a, expected) in [
        (1024, 1000.0, 0.341_119_023_136_741_27),
        (1024, 1020.0, 0.852_999_063_994_952_6),
        (1024, 900.0, 0.000_028_992_936_702_183_34),
        (55, 48.0, 0.238_700_936_378_009_2),
    ] {
        let p = erlang_c(c, a).unwrap();
        assert!(close(p, expected, 1e-12 * expected.max(1e-3)), "C({c}, {a}) = {p}, expected {expected}");
    }
}

#[test]
fn an_unstable_queue_has_no_prediction() {
    assert_eq!(erlang_c(4, 4.0), None);
    assert_eq!(erlang_c(4, 5.0), None);
    assert_eq!(erlang_c(0, 0.5), None);
    assert_eq!(mmc(2.0, 2.0, 4), Err(QueueError::Unstable { utilisation: 1.0 }));
    assert!(mmc(3.0, 2.0, 4).unwrap_err().to_string().contains("grows without bound"));
    assert_eq!(mmc(1.0, 1.0, 0), Err(QueueError::NoServers));
    assert_eq!(mmc(-1.0, 1.0, 2), Err(QueueError::InvalidRate));
    assert_eq!(mmc(1.0, 0.0, 2), Err(QueueError::InvalidRate));
    // Nothing arriving: nobody waits.
    assert_eq!(mmc(0.0, 1.0, 2).map(|q| q.p_wait), Ok(0.0));
}

#[test]
fn erlang_b_matches_its_closed_form() {
    // B(2, 1) = (1/2) / (1 + 1 + 1/2) = 1/5.
    assert!(close(erlang_b(2, 1.0), 0.2, 1e-15));
    assert_eq!(erlang_b(0, 3.0), 1.0);
}

#[test]
fn littles_law_three_ways() {
    assert_eq!(little_items(4.0, 0.5), 2.0);
    assert_eq!(little_time(2.0, 4.0), 0.5);
    assert_eq!(little_rate(2.0, 0.5), 4.0);
}

fn amdahl_points(s: f64, sizes: &[f64]) -> Vec<(f64, f64)> {
    sizes.iter().map(|&n| (n, 1.0 / (s + (1.0 - s) / n))).collect()
}

fn usl_points(sigma: f64, kappa: f64, sizes: &[f64]) -> Vec<(f64, f64)> {
    sizes.iter().map(|&n| (n, n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)))).collect()
}

const SIZES: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0];

#[test]
fn amdahl_recovers_a_known_serial_fraction() {
    for s in [0.0, 0.05, 0.25, 0.5, 1.0] {
        let fit = fit_amdahl(&amdahl_points(s, &SIZES)).unwrap();
        assert!(close(fit.serial_fraction, s, 1e-9), "{s}: {fit:?}");
        assert_eq!(fit.points, SIZES.len());
        if s < 1.0 {
            assert!(fit.r_squared.unwrap() > 1.0 - 1e-12, "{fit:?}");
        }
    }
    // A tenth serial can never beat 10×.
    assert!(close(fit_amdahl(&amdahl_points(0.1, &SIZES)).unwrap().ceiling(), 10.0, 1e-6));
}

#[test]
fn amdahl_fits_noisy_speed_ups_within_tolerance() {
    // s = 0.1 with ±2 % multiplicative noise (a fixed pattern, so the test repeats).
    let noise = [1.0, 1.02, 0.98, 1.01, 0.99, 1.02, 0.985, 1.0];
    let points: Vec<(f64, f64)> = amdahl_points(0.1, &SIZES).iter().zip(noise).map(|(&(n, s), e)| (n, s * e)).collect();
    let fit = fit_amdahl(&points).unwrap();
    assert!(close(fit.serial_fraction, 0.1, 0.01), "{fit:?}");
    assert!(fit.r_squared.unwrap() > 0.98, "{fit:?}");
}

#[test]
fn usl_recovers_known_contention_and_coherency() {
    for (sigma, kappa) in [(0.0, 0.0), (0.05, 0.0), (0.0, 0.01), (0.02, 0.0005), (0.3, 0.02)] {
        let fit = fit_usl(&usl_points(sigma, kappa, &SIZES)).unwrap();
        assert!(close(fit.sigma, sigma, 1e-9) && close(fit.kappa, kappa, 1e-9), "{sigma}, {kappa}: {fit:?}");
        assert!(fit.r_squared.unwrap() > 1.0 - 1e-12, "{fit:?}");
    }
    let fit = fit_usl(&usl_points(0.02, 0.0005, &SIZES)).unwrap();
    // √((1 − 0.02)/0.0005) = √1960 = 44.27.
    assert!(close(fit.peak_workers().unwrap(), 1960f64.sqrt(), 1e-4));
    assert!(close(fit.speedup(44.0), usl(0.02, 0.0005, 44.0), 1e-9));
}

#[test]
fn usl_fits_noisy_speed_ups_within_tolerance() {
    let noise = [1.0, 0.99, 1.015, 0.99, 1.01, 0.985, 1.01, 1.0];
    let points: Vec<(f64, f64)> =
        usl_points(0.05, 0.002, &SIZES).iter().zip(noise).map(|(&(n, s), e)| (n, s * e)).collect();
    let fit = fit_usl(&points).unwrap();
    assert!(close(fit.sigma, 0.05, 0.02) && close(fit.kappa, 0.002, 0.001), "{fit:?}");
    assert!(fit.r_squared.unwrap() > 0.97, "{fit:?}");
    let peak = fit.peak_workers().unwrap();
    assert!((15.0..30.0).contains(&peak), "true peak √(0.95/0.002) = 21.8: {peak}");
}

#[test]
fn perfect_linear_scaling_has_no_serial_part_and_no_peak() {
    let linear: Vec<(f64, f64)> = SIZES.iter().map(|&n| (n, n)).collect();
    let amdahl = fit_amdahl(&linear).unwrap();
    assert_eq!(amdahl.serial_fraction, 0.0);
    assert_eq!(amdahl.r_squared, Some(1.0));
    let usl = fit_usl(&linear).unwrap();
    assert_eq!((usl.sigma, usl.kappa), (0.0, 0.0));
    assert_eq!(usl.peak_workers(), None);
}

#[test]
fn superlinear_speed_ups_clamp_at_zero() {
    // Faster than linear (caches warming, say): neither law can say so, and neither goes
    // negative.
    let points: Vec<(f64, f64)> = SIZES.iter().map(|&n| (n, n * 1.1)).collect();
    let usl = fit_usl(&points).unwrap();
    assert!(usl.sigma >= 0.0 && usl.kappa >= 0.0, "{usl:?}");
    assert_eq!(fit_amdahl(&points).unwrap().serial_fraction, 0.0);
}

#[test]
fn no_speed_up_at_all_is_all_serial() {
    // A GIL: every size takes as long as one worker.
    let flat: Vec<(f64, f64)> = SIZES.iter().map(|&n| (n, 1.0)).collect();
    let amdahl = fit_amdahl(&flat).unwrap();
    assert_eq!(amdahl.serial_fraction, 1.0);
    assert_eq!(amdahl.r_squared, None, "speed-ups that do not vary leave nothing to explain");
    let usl = fit_usl(&flat).unwrap();
    assert!(close(usl.sigma, 1.0, 1e-12) && usl.kappa == 0.0, "{usl:?}");
    assert_eq!(usl.peak_workers(), None);
}

#[test]
fn too_few_points_fit_what_they_can() {
    assert_eq!(fit_amdahl(&[]), None);
    assert_eq!(fit_usl(&[]), None);
    // Only one worker: any law fits.
    assert_eq!(fit_amdahl(&[(1.0, 1.0)]), None);
    assert_eq!(fit_usl(&[(1.0, 1.0)]), None);
    // One size above 1: the serial fraction is exact, R² undefined.
    let one = fit_amdahl(&[(4.0, 2.0)]).unwrap();
    assert!(close(one.serial_fraction, 1.0 / 3.0, 1e-9) && one.r_squared.is_none(), "{one:?}");
    // Two sizes, 1 and 4: σ and κ cannot be told apart; σ alone explains them.
    let two = fit_usl(&[(1.0, 1.0), (4.0, 2.0)]).unwrap();
    assert!(close(two.sigma, 1.0 / 3.0, 1e-9) && two.kappa == 0.0, "{two:?}");
    // Nonsense in, nothing out.
    assert_eq!(fit_usl(&[(2.0, 0.0)]), None);
    assert_eq!(fit_amdahl(&[(0.5, 1.0)]), None);
    assert_eq!(fit_amdahl(&[(2.0, f64::NAN)]), None);
}
