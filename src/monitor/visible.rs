//! Which NVML device is CUDA's device N. NVML numbers every GPU of the machine in PCI order;
//! CUDA numbers only the devices `CUDA_VISIBLE_DEVICES` lets through, in the order that list
//! gives them, and without the variable in its own order (fastest first, ties by PCI bus id,
//! unless `CUDA_DEVICE_ORDER=PCI_BUS_ID`). So `cuda:0` under `CUDA_VISIBLE_DEVICES=3,1` is
//! NVML's fourth GPU in PCI order. This is a pure function over NVML's device table and the two
//! variables, so it is tested on recorded tables without a GPU.
use serde::{Deserialize, Serialize};

/// One physical GPU as NVML reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlGpu {
    /// NVML's index (`nvmlDeviceGetHandleByIndex`).
    pub index: u32,
    pub name: String,
    /// `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub uuid: String,
    /// NVML's form, `00000000:3B:00.0` (CUDA writes `0000:3b:00.0`; both parse the same).
    pub pci_bus_id: String,
    /// UUIDs (`MIG-...`) of this GPU's MIG devices in NVML's MIG index order; empty when MIG is
    /// off.
    #[serde(default)]
    pub mig: Vec<String>,
}

/// CUDA's device `cuda_index` is NVML's GPU `nvml_index` (or one MIG device of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisibleGpu {
    pub cuda_index: usize,
    pub nvml_index: u32,
    /// Index into that GPU's `mig` list when the entry named one MIG device.
    pub mig_index: Option<u32>,
    /// The GPU's UUID, or the MIG device's.
    pub uuid: String,
    pub pci_bus_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    /// In CUDA's order: `devices[n]` is `cuda:n`.
    pub devices: Vec<VisibleGpu>,
    /// The GPUs are not all one model and `CUDA_DEVICE_ORDER` is not `PCI_BUS_ID`, so CUDA's
    /// own order (fastest first) may differ from the PCI order that plain indices are read in.
    pub order_uncertain: bool,
    /// The first entry of `CUDA_VISIBLE_DEVICES` that names no device (or one already listed):
    /// CUDA ignores it and every entry after it.
    pub stopped_at: Option<String>,
}

/// A PCI address, comparable whatever the spelling (`00000000:3B:00.0`, `0000:3b:00.0`).
pub fn parse_pci_bus_id(s: &str) -> Option<(u32, u8, u8, u8)> {
    let mut parts = s.trim().split(':');
    let (domain, bus, rest) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (device, function) = rest.split_once('.')?;
    Some((
        u32::from_str_radix(domain, 16).ok()?,
        u8::from_str_radix(bus, 16).ok()?,
        u8::from_str_radix(device, 16).ok()?,
        u8::from_str_radix(function, 16).ok()?,
    ))
}

/// Maps CUDA's device numbers onto `gpus` (NVML's table, any order) for the given
/// `CUDA_VISIBLE_DEVICES` and `CUDA_DEVICE_ORDER` values (None: not set). Entries are plain
/// indices (read in PCI order), `GPU-` UUIDs or any unique prefix of one, `MIG-` UUIDs (or a
/// unique prefix), and the older `MIG-GPU-<uuid>/<gi>/<ci>` (mapped to its GPU). A GPU with MIG
/// on that no entry names by a MIG UUID is mapped as the whole GPU.
pub fn map_cuda_devices(
    cuda_visible_devices: Option<&str>,
    cuda_device_order: Option<&str>,
    gpus: &[NvmlGpu],
) -> Mapping {
    let mut pci_order: Vec<&NvmlGpu> = gpus.iter().collect();
    // Unparseable addresses go last, in NVML's order.
    pci_order.sort_by_key(|g| {
        (
            parse_pci_bus_id(&g.pci_bus_id).is_none(),
            parse_pci_bus_id(&g.pci_bus_id),
            g.index,
        )
    });
    let mixed_models = pci_order.windows(2).any(|w| w[0].name != w[1].name);
    let by_pci = cuda_device_order.map(str::trim) == Some("PCI_BUS_ID");

    let whole = |cuda_index: usize, g: &NvmlGpu| VisibleGpu {
        cuda_index,
        nvml_index: g.index,
        mig_index: None,
        uuid: g.uuid.clone(),
        pci_bus_id: g.pci_bus_id.clone(),
    };
    let Some(list) = cuda_visible_devices else {
        return Mapping {
            devices: pci_order
                .iter()
                .enumerate()
                .map(|(i, g)| whole(i, g))
                .collect(),
            order_uncertain: mixed_models && !by_pci,
            stopped_at: None,
        };
    };

    let mut devices: Vec<VisibleGpu> = Vec::new();
    let mut stopped_at = None;
    let mut used_index = false;
    // An empty value hides every device; an empty entry inside a list ends it like any bad one.
    let entries = list.split(',').map(str::trim);
    for entry in entries.take_while(|_| !list.trim().is_empty()) {
        let found = resolve(entry, &pci_order, &mut used_index);
        let fresh = found.filter(|(g, mig)| {
            !devices
                .iter()
                .any(|d| d.nvml_index == g.index && d.mig_index == *mig)
        });
        match fresh {
            Some((g, mig)) => {
                let mut d = whole(devices.len(), g);
                if let Some(m) = mig {
                    d.mig_index = Some(m);
                    d.uuid = g.mig[m as usize].clone();
                }
                devices.push(d);
            }
            None => {
                stopped_at = Some(entry.to_string());
                break;
            }
        }
    }
    Mapping {
        devices,
        order_uncertain: used_index && mixed_models && !by_pci,
        stopped_at,
    }
}

/// One entry of `CUDA_VISIBLE_DEVICES`: the GPU and, for a MIG UUID, its MIG index.
fn resolve<'a>(
    entry: &str,
    pci_order: &[&'a NvmlGpu],
    used_index: &mut bool,
) -> Option<(&'a NvmlGpu, Option<u32>)> {
    let lower = entry.to_ascii_lowercase();
    if !entry.is_empty() && entry.bytes().all(|b| b.is_ascii_digit()) {
        *used_index = true;
        let i: usize = entry.parse().ok()?;
        return pci_order.get(i).map(|g| (*g, None));
    }
    let unique =
        |mut hits: Vec<(&'a NvmlGpu, Option<u32>)>| (hits.len() == 1).then(|| hits.remove(0));
    if let Some(rest) = lower.strip_prefix("mig-gpu-") {
        // Before R470: MIG-GPU-<gpu uuid>/<gpu instance>/<compute instance>.
        let gpu_uuid = format!("gpu-{}", rest.split('/').next()?);
        return unique(
            pci_order
                .iter()
                .filter(|g| g.uuid.to_ascii_lowercase() == gpu_uuid)
                .map(|g| (*g, None))
                .collect(),
        );
    }
    if lower.starts_with("mig-") {
        return unique(
            pci_order
                .iter()
                .flat_map(|g| {
                    g.mig.iter().enumerate().filter_map(|(m, u)| {
                        u.to_ascii_lowercase()
                            .starts_with(&lower)
                            .then_some((*g, Some(m as u32)))
                    })
                })
                .collect(),
        );
    }
    if lower.starts_with("gpu-") {
        return unique(
            pci_order
                .iter()
                .filter(|g| g.uuid.to_ascii_lowercase().starts_with(&lower))
                .map(|g| (*g, None))
                .collect(),
        );
    }
    None
}

#[cfg(test)]
#[path = "visible_tests.rs"]
mod tests;
