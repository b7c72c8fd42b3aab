//! What the engine trains: the data, the network, its masks and optimiser, and the knobs of
//! one step, built from a preset. It knows nothing of threads, commands or the run folder: the
//! engine (`engine.rs`) drives it and decides what to do with what it reports.
use std::time::Instant;

use anyhow::Result;
use tch::{Device, Kind, Tensor};

use super::loss::smoothed_ce;
use super::optim::Optimizer;
use super::step::{AdvOutcome, StepKit};
use crate::attack::accuracy;
use crate::config::edit;
use crate::config::preset::Preset;
use crate::data::{self, Batcher, Dataset};
use crate::events::{Event, LayerInfo, MaskUpdate, ParamChanged, RunStarted, Step, StepTiming};
use crate::model::Net;
use crate::prune::{Pruner, ScheduleSpec};
use crate::run::checkpoint::Loaded;
use crate::run::TrainState;

use super::sink::Sink;

pub struct Trainer {
    /// The run's settings, with every live change applied.
    pub preset: Preset,
    pub data: Dataset,
    pub net: Net,
    pub pruner: Pruner,
    pub opt: Optimizer,
    pub schedule: ScheduleSpec,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    kit: StepKit,
    samples_per_s: f64,
    pub last_test_acc: Option<f64>,
    /// The mask update of the last step, if it had one: (step, sparsity before, after), for
    /// the collapse alert.
    pub mask_update: Option<(usize, f64, f64)>,
}

impl Trainer {
    /// Loads the data and builds the network, masks and optimiser for `preset` on `device`;
    /// also returns the batch order.
    pub fn build(preset: Preset, device: Device) -> Result<(Trainer, Batcher)> {
        if preset.train.threads > 0 {
            tch::set_num_threads(preset.train.threads);
        }
        let data = data::load(&preset.data, device)?;
        tch::manual_seed(preset.train.seed as i64);
        let net = Net::new(&preset.model, data.shape(), data.classes, device)?;
        let pruner = Pruner::new(net.prunable(), preset.prune.scope, &preset.prune.exclude);
        let opt = Optimizer::new(&preset.train, net.named_params());
        let batcher = Batcher::new(
            data.n_train(),
            preset.train.batch_size,
            preset.train.seed,
            device,
        );
        let steps_per_epoch = batcher.steps_per_epoch();
        let trainer = Trainer {
            schedule: preset.schedule(steps_per_epoch),
            total_steps: steps_per_epoch * preset.train.epochs,
            kit: StepKit::new(&preset),
            steps_per_epoch,
            data,
            net,
            pruner,
            opt,
            samples_per_s: 0.0,
            last_test_acc: None,
            mask_update: None,
            preset,
        };
        Ok((trainer, batcher))
    }

    /// The `run_started` event of a run with this trainer.
    pub fn started(&self, run_id: String, run_dir: String, preset_label: String) -> RunStarted {
        let info = crate::device::describe(self.device());
        RunStarted {
            device_model: info.name,
            device_memory: info.memory_bytes,
            run_id,
            run_dir,
            preset: preset_label,
            mode: self.preset.train.mode.as_str().into(),
            dataset: self.data.name.clone(),
            model: self.net.arch.clone(),
            device: crate::device::device_name(self.device()),
            threads: tch::get_num_threads(),
            epochs: self.preset.train.epochs,
            steps_per_epoch: self.steps_per_epoch,
            total_steps: self.total_steps,
            batch_size: self.preset.train.batch_size,
            train_examples: self.data.n_train(),
            test_examples: self.data.n_test(),
            layers: self
                .pruner
                .layers
                .iter()
                .map(|l| LayerInfo {
                    name: l.name.clone(),
                    numel: l.weight.numel() as i64,
                })
                .collect(),
            schedule: self.schedule,
            start_step: 0,
        }
    }

    pub fn device(&self) -> Device {
        self.net.vs.device()
    }

    /// Changes one setting from the next step on (`config::edit::LIVE_KEYS` only); the event
    /// to report, or why it is refused.
    pub fn set(&mut self, step: usize, key: &str, value: &str) -> Result<ParamChanged, String> {
        if let Some(why) = edit::live_refusal(key) {
            return Err(why);
        }
        let p = self
            .preset
            .with(key, value)
            .map_err(|pr| format!("refused: {}: {}", pr.key, pr.message))?;
        let old = self.preset.get(key).unwrap_or_default();
        let new = p.get(key).unwrap_or_default();
        self.preset = p;
        self.schedule = self.preset.schedule(self.steps_per_epoch);
        self.opt.lr = self.preset.train.lr;
        self.kit = StepKit::new(&self.preset);
        Ok(ParamChanged {
            step,
            key: key.into(),
            old,
            new,
        })
    }

    pub fn step(
        &mut self,
        sink: &Sink,
        step: usize,
        epoch: usize,
        idx: &Tensor,
    ) -> Result<Option<(f64, f64)>> {
        let t0 = Instant::now();
        // Per-step seeding makes random starts reproducible after a resume.
        tch::manual_seed(self.preset.train.seed as i64 ^ (step as i64).wrapping_mul(0x2545_F491));
        if self.schedule.updates_at(step) {
            let target = self.schedule.sparsity_at(step);
            let before = self.pruner.mask_sparsity();
            self.pruner.update(target);
            let (sparsity, layers) = self.pruner.measure();
            self.mask_update = Some((step, before, sparsity));
            sink.emit(Event::MaskUpdate(MaskUpdate {
                step,
                target_sparsity: target,
                sparsity,
                layers,
            }));
        }
        let t_prune = t0.elapsed();
        let x = self.data.train_x.index_select(0, idx);
        let y = self.data.train_y.index_select(0, idx);
        let smoothing = self.preset.train.label_smoothing;
        let t1 = Instant::now();
        let adv = self.kit.examples(&self.net, &x, &y, step)?;
        let t_attack = t1.elapsed();
        let t2 = Instant::now();
        self.opt.zero_grad();
        let (logits, adv_logits) = self.kit.logits(&self.net, &x, &adv);
        let clean_loss = smoothed_ce(&logits, &y, smoothing);
        let (loss, adv_loss) = match adv_logits {
            None => (clean_loss.shallow_clone(), None),
            Some(adv_logits) => {
                let (l, a) = self
                    .kit
                    .combine(&logits, &adv_logits, &clean_loss, &y, smoothing);
                (l, Some(a))
            }
        };
        // Checked before the update, so a NaN/Inf loss never reaches the weights.
        let loss_v = loss.double_value(&[]);
        if !loss_v.is_finite() {
            return Ok(None);
        }
        loss.backward();
        self.opt.step();
        let t_prune2 = Instant::now();
        self.pruner.apply();
        let prune_ms = (t_prune + t_prune2.elapsed()).as_secs_f64() * 1e3;
        let acc = accuracy(&logits.detach(), &y);
        if let AdvOutcome::Examples {
            budget: Some(b), ..
        } = adv
        {
            sink.emit(b.into_event(step));
        }
        let secs = t0.elapsed().as_secs_f64();
        let rate = x.size()[0] as f64 / secs.max(1e-9);
        self.samples_per_s = if self.samples_per_s == 0.0 {
            rate
        } else {
            0.9 * self.samples_per_s + 0.1 * rate
        };
        // Masks change only at updates, so the pruner's cached kept counts are exact.
        let sparsity_now = self.pruner.mask_sparsity();
        sink.emit(Event::Step(Step {
            step,
            epoch,
            loss: loss_v,
            clean_loss: clean_loss.double_value(&[]),
            adv_loss: adv_loss.map(|a| a.double_value(&[])),
            train_acc: acc,
            target_sparsity: self.schedule.sparsity_at(step),
            sparsity: sparsity_now,
            samples_per_s: self.samples_per_s,
            timing: StepTiming {
                attack_ms: t_attack.as_secs_f64() * 1e3,
                train_ms: t2.elapsed().as_secs_f64() * 1e3 - prune_ms + t_prune.as_secs_f64() * 1e3,
                prune_ms,
            },
        }));
        Ok(Some((loss_v, acc)))
    }

    pub fn test_metrics(&self) -> (f64, f64) {
        tch::no_grad(|| {
            let n = self.data.n_test() as i64;
            let bs = 1000i64;
            let (mut loss, mut correct) = (0.0, 0.0);
            let mut i = 0;
            while i < n {
                let len = bs.min(n - i);
                let x = self.data.test_x.narrow(0, i, len);
                let y = self.data.test_y.narrow(0, i, len);
                let logits = self.net.forward(&x);
                loss += smoothed_ce(&logits, &y, 0.0).double_value(&[]) * len as f64;
                correct += logits
                    .argmax(-1, false)
                    .eq_tensor(&y)
                    .sum(Kind::Int64)
                    .int64_value(&[]) as f64;
                i += len;
            }
            (loss / n.max(1) as f64, correct / n.max(1) as f64)
        })
    }

    /// Robustness of the current weights, as an `eval` event.
    pub fn evaluate(&self, step: usize, epoch: usize) -> Result<Option<Event>> {
        self.kit
            .evaluate(&self.net, &self.data, &self.preset, step, epoch)
    }

    /// What a checkpoint's main file holds: every parameter under its PyTorch name plus one
    /// `<param>_mask` per pruned kernel.
    pub fn weights_and_masks(&self) -> Vec<(String, Tensor)> {
        let mut tensors = self.net.named_params();
        for l in &self.pruner.layers {
            tensors.push((format!("{}_mask", l.name), l.mask.shallow_clone()));
        }
        tensors
    }

    /// Whether every parameter is finite (an overflowing update makes them NaN/Inf).
    pub fn weights_finite(&self) -> bool {
        tch::no_grad(|| {
            self.net
                .named_params()
                .iter()
                .all(|(_, t)| bool::try_from(t.isfinite().all()).unwrap_or(false))
        })
    }

    pub fn optimizer_state(&self) -> Vec<(String, Tensor)> {
        self.opt.state()
    }

    /// Puts a checkpoint's weights, masks and optimiser state back; returns its train state.
    pub fn restore(&mut self, loaded: &Loaded) -> Result<TrainState> {
        let source = loaded.weights_path.display().to_string();
        self.net.load_tensors(&loaded.weights, &source)?;
        let masks = self
            .pruner
            .layers
            .iter()
            .map(|l| loaded.mask(&l.name))
            .collect::<Result<Vec<_>>>()?;
        self.pruner.set_masks(masks);
        self.opt
            .load_state(&loaded.optim, loaded.state.optimizer_t)?;
        self.last_test_acc = loaded.state.test_acc;
        Ok(loaded.state.clone())
    }
}
