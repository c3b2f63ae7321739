//! Guardrails: is the treatment significantly worse on a metric that must not degrade? A
//! one-sided question, whose direction depends on whether higher values are better.

use crate::alpha::Alpha;
use crate::means::MeanComparison;
use crate::proportions::ProportionComparison;
use crate::sequential::SequentialResult;

/// Which direction of a metric is good: `Higher` for conversion or revenue, `Lower` for
/// latency, errors or unsubscribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// A result a guardrail can be read from.
pub trait Guardrail {
    /// The p-value for "treatment is worse than control" in the direction `better` says.
    fn worse_p_value(&self, better: Better) -> f64;

    /// The treatment is significantly worse at level α.
    fn is_worse(&self, better: Better, alpha: Alpha) -> bool {
        self.worse_p_value(better) <= alpha.get()
    }
}

/// The one-sided pooled z-test: treatment below control when higher is better.
impl Guardrail for ProportionComparison {
    fn worse_p_value(&self, better: Better) -> f64 {
        match better {
            Better::Higher => self.p_value_lower,
            Better::Lower => self.p_value_higher,
        }
    }
}

/// The one-sided Welch test.
impl Guardrail for MeanComparison {
    fn worse_p_value(&self, better: Better) -> f64 {
        match better {
            Better::Higher => self.p_value_lower,
            Better::Lower => self.p_value_higher,
        }
    }
}

/// This look's own always-valid p-value (`look_p_value`, 1/Λ) when this look's difference
/// points the harmful way, else 1.
///
/// Not the running minimum `p_value`: that remembers the strongest evidence so far but not its
/// sign, so a treatment that was significantly better early and drifts just below control
/// later would read as "significantly worse". With 1/Λ of the same look, a harmful-side
/// rejection at any look is a subset of "1/Λ ever reaches α", which has probability at most
/// α under no effect (Ville's inequality): always valid, and conservative (about α/2 with no
/// effect at all). Act at the first look it says worse.
impl Guardrail for SequentialResult {
    fn worse_p_value(&self, better: Better) -> f64 {
        let harmful = match better {
            Better::Higher => self.difference < 0.0,
            Better::Lower => self.difference > 0.0,
        };
        if harmful { self.look_p_value } else { 1.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::means::{MeanSummary, compare_means};
    use crate::proportions::{Proportion, compare_proportions};
    use crate::sequential::{Mixing, msprt_proportions};

    fn arm(conversions: u64, exposures: u64) -> Proportion {
        Proportion::new(conversions, exposures).unwrap()
    }

    #[test]
    fn direction_decides() {
        let a = Alpha::FIVE_PERCENT;
        // Treatment converts less: worse when higher is better, not when lower is.
        let c = compare_proportions(arm(500, 10_000), arm(430, 10_000), a);
        assert!(c.is_worse(Better::Higher, a));
        assert!(!c.is_worse(Better::Lower, a));
        // One-sided: a z of −1.83 is worse at 5% one-sided (p 0.033), though not two-sided.
        let c = compare_proportions(arm(500, 10_000), arm(445, 10_000), a);
        assert!(c.p_value > 0.05 && c.is_worse(Better::Higher, a), "{c:?}");
        // Latency went up: worse when lower is better.
        let control = MeanSummary::new(1000, 200.0, 900.0).unwrap();
        let slower = MeanSummary::new(1000, 205.0, 900.0).unwrap();
        let m = compare_means(&control, &slower, a).unwrap();
        assert!(m.is_worse(Better::Lower, a) && !m.is_worse(Better::Higher, a));
        // No difference: never worse.
        let m = compare_means(&control, &control, a).unwrap();
        assert!(!m.is_worse(Better::Lower, a) && !m.is_worse(Better::Higher, a));
    }

    #[test]
    fn sequential_direction() {
        let a = Alpha::FIVE_PERCENT;
        let s = msprt_proportions(
            arm(600, 10_000),
            arm(450, 10_000),
            1.0,
            Mixing::default(),
            a,
        )
        .unwrap();
        assert!(s.reject);
        assert!(s.is_worse(Better::Higher, a) && !s.is_worse(Better::Lower, a));
        assert_eq!(s.worse_p_value(Better::Lower), 1.0);
    }

    #[test]
    fn an_early_gain_is_not_read_as_worse_later() {
        let a = Alpha::FIVE_PERCENT;
        // Significantly better at the first look...
        let first = msprt_proportions(
            arm(450, 10_000),
            arm(600, 10_000),
            1.0,
            Mixing::default(),
            a,
        )
        .unwrap();
        assert!(first.reject && first.difference > 0.0);
        // ...then the treatment drifts a hair below control: the running minimum still says
        // "significant", but that evidence was for a gain.
        let later = msprt_proportions(
            arm(2_000, 40_000),
            arm(1_990, 40_000),
            first.p_value,
            Mixing::default(),
            a,
        )
        .unwrap();
        assert!(later.difference < 0.0 && later.p_value <= 0.05);
        assert!(!later.is_worse(Better::Higher, a), "{later:?}");
        assert_eq!(later.worse_p_value(Better::Higher), later.look_p_value);
    }
}
