//! Cross-entropy with label smoothing, written out as in the authors' Keras set-up:
//! y_s = (1 - a) onehot + a / C, CE = -sum(y_s log softmax(logits)), batch mean.
use tch::{Kind, Tensor};

pub fn smoothed_ce(logits: &Tensor, y: &Tensor, smoothing: f64) -> Tensor {
    let c = logits.size()[1];
    let logp = logits.log_softmax(-1, Kind::Float);
    if smoothing == 0.0 {
        return logp.nll_loss(y);
    }
    let onehot = y.onehot(c).to_kind(Kind::Float);
    let ys = onehot * (1.0 - smoothing) + smoothing / c as f64;
    -(ys * logp)
        .sum_dim_intlist(-1, false, Kind::Float)
        .mean(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_matches_hand_computation() {
        let logits = Tensor::from_slice(&[2.0f32, 0.0, 0.0]).reshape([1, 3]);
        let y = Tensor::from_slice(&[0i64]);
        let lse = (2f64.exp() + 2.0).ln();
        let logp = [2.0 - lse, -lse, -lse];
        // a = 0.1, C = 3: targets 0.9333.., 0.0333.., 0.0333..
        let want = -(logp[0] * (0.9 + 0.1 / 3.0) + 2.0 * logp[1] * (0.1 / 3.0));
        let got = smoothed_ce(&logits, &y, 0.1).double_value(&[]);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        let plain = smoothed_ce(&logits, &y, 0.0).double_value(&[]);
        assert!((plain + logp[0]).abs() < 1e-6);
    }
}
