//! Device tables in the form `NvmlGpu` serialises (what `bapw bench --sample-ms` prints as
//! `nvml_gpus`, and scripts/gpu-check.sh records from the GPU machine), laid out like three
//! kinds of machine: an 8-GPU HGX H100 box (its usual bus ids), a workstation with two
//! different GPUs whose NVML order is not their PCI order, and an H200 with MIG on. The UUIDs
//! are made up; no GPU was at hand to record real ones.
use super::*;

const HGX_H100: &str = r#"[
 {"index":0,"name":"NVIDIA H100 80GB HBM3","uuid":"GPU-1c0c8f5e-7a3b-2d41-9e6f-0a1b2c3d4e50","pci_bus_id":"00000000:18:00.0"},
 {"index":1,"name":"NVIDIA H100 80GB HBM3","uuid":"GPU-2d1d9a6f-8b4c-3e52-af70-1b2c3d4e5f61","pci_bus_id":"00000000:2A:00.0"},
 {"index":2,"name":"NVIDIA H100 80GB HBM3","uuid":"GPU-3e2eab70-9c5d-4f63-b081-2c3d4e5f6a72","pci_bus_id":"00000000:3A:00.0"},
 {"index":3,"name":"NVIDIA H100 80GB HBM3","uuid":"GPU-4f3fbc81-ad6e-5074-c192-3d4e5f6a7b83","pci_bus_id":"00000000:5D:00.0"},
 {"index":4,"name":"NVIDIA H100 80GB HBM3","uuid":"GPU-5a40cd92-be7f-6185-d2a3-4e5f6a7b8c94","pci_bus_id":"00000000:9A:00.0"},
 {"index":5,"name":"NVIDIA H100 80GB HBM3","uuid":"GPU-6b51dea3-cf80-7296-e3b4-5f6a7b8c9da5","pci_bus_id":"00000000:AB:00.0"},
 {"index":6,"name":"NVIDIA H100 80GB HBM3","uuid":"GPU-7c62efb4-d091-83a7-f4c5-6a7b8c9daeb6","pci_bus_id":"00000000:BA:00.0"},
 {"index":7,"name":"NVIDIA H100 80GB HBM3","uuid":"GPU-1c0d00c5-e1a2-94b8-05d6-7b8c9daebfc7","pci_bus_id":"00000000:DB:00.0"}
]"#;

/// NVML lists the A100 (bus 0x41) before the RTX card (bus 0x01).
const WORKSTATION: &str = r#"[
 {"index":0,"name":"NVIDIA A100-PCIE-40GB","uuid":"GPU-a100aaaa-1111-2222-3333-444455556666","pci_bus_id":"00000000:41:00.0"},
 {"index":1,"name":"NVIDIA GeForce RTX 3060","uuid":"GPU-3060bbbb-1111-2222-3333-444455556666","pci_bus_id":"00000000:01:00.0"}
]"#;

const H200_MIG: &str = r#"[
 {"index":0,"name":"NVIDIA H200","uuid":"GPU-9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0","pci_bus_id":"00000000:1B:00.0",
  "mig":["MIG-0a9b8c7d-6e5f-5a4b-9c3d-2e1f0a9b8c7d","MIG-1b0c9d8e-7f6a-5b4c-8d2e-3f2a1b0c9d8e"]},
 {"index":1,"name":"NVIDIA H200","uuid":"GPU-0e1d2c3b-4a59-6877-9605-a4b3c2d1e0f9","pci_bus_id":"00000000:43:00.0"}
]"#;

fn table(json: &str) -> Vec<NvmlGpu> {
    serde_json::from_str(json).unwrap()
}

/// (cuda index, nvml index, mig index) of each visible device.
fn pairs(m: &Mapping) -> Vec<(usize, u32, Option<u32>)> {
    m.devices
        .iter()
        .map(|d| (d.cuda_index, d.nvml_index, d.mig_index))
        .collect()
}

#[test]
fn without_the_variable_every_gpu_is_visible_in_pci_order() {
    let m = map_cuda_devices(None, None, &table(HGX_H100));
    assert_eq!(
        pairs(&m),
        (0..8).map(|i| (i, i as u32, None)).collect::<Vec<_>>()
    );
    assert!(!m.order_uncertain && m.stopped_at.is_none());
    assert_eq!(m.devices[5].pci_bus_id, "00000000:AB:00.0");
}

#[test]
fn indices_count_in_pci_order_whatever_order_nvml_lists_the_table_in() {
    let mut shuffled = table(HGX_H100);
    shuffled.reverse();
    shuffled.swap(1, 4);
    let m = map_cuda_devices(Some("3,1"), None, &shuffled);
    assert_eq!(pairs(&m), vec![(0, 3, None), (1, 1, None)]);
    assert_eq!(m.devices[0].pci_bus_id, "00000000:5D:00.0");
    assert_eq!(
        m.devices[1].uuid,
        "GPU-2d1d9a6f-8b4c-3e52-af70-1b2c3d4e5f61"
    );

    // The workstation: CUDA's 0 under PCI order is the RTX card, NVML's 1.
    let ws = table(WORKSTATION);
    let m = map_cuda_devices(Some("0"), Some("PCI_BUS_ID"), &ws);
    assert_eq!(pairs(&m), vec![(0, 1, None)]);
    assert!(!m.order_uncertain);
}

#[test]
fn mixed_models_without_pci_bus_order_are_flagged() {
    let ws = table(WORKSTATION);
    assert!(map_cuda_devices(None, None, &ws).order_uncertain);
    assert!(map_cuda_devices(Some("1"), Some("FASTEST_FIRST"), &ws).order_uncertain);
    assert!(!map_cuda_devices(None, Some("PCI_BUS_ID"), &ws).order_uncertain);
    // UUIDs say exactly which GPU, whatever CUDA's order.
    let m = map_cuda_devices(Some("GPU-3060bbbb"), None, &ws);
    assert_eq!(pairs(&m), vec![(0, 1, None)]);
    assert!(!m.order_uncertain);
    // One model: fastest-first ties fall back to PCI order.
    assert!(!map_cuda_devices(Some("2"), None, &table(HGX_H100)).order_uncertain);
}

#[test]
fn uuids_and_unique_prefixes_name_a_gpu_and_an_ambiguous_prefix_ends_the_list() {
    let t = table(HGX_H100);
    let m = map_cuda_devices(
        Some("GPU-7c62efb4-d091-83a7-f4c5-6a7b8c9daeb6, gpu-5A40"),
        None,
        &t,
    );
    assert_eq!(pairs(&m), vec![(0, 6, None), (1, 4, None)]);
    // GPU-1c0 starts both GPU 0's and GPU 7's UUID.
    let m = map_cuda_devices(Some("2,GPU-1c0,0"), None, &t);
    assert_eq!(pairs(&m), vec![(0, 2, None)]);
    assert_eq!(m.stopped_at.as_deref(), Some("GPU-1c0"));
}

#[test]
fn the_first_bad_entry_hides_it_and_everything_after_it() {
    let t = table(HGX_H100);
    for (value, visible, stop) in [
        ("1,9,0", vec![1], Some("9")),
        ("-1", vec![], Some("-1")),
        ("0,,1", vec![0], Some("")),
        ("2,2,3", vec![2], Some("2")),
        ("4,GPU-ffff,1", vec![4], Some("GPU-ffff")),
        ("nonsense", vec![], Some("nonsense")),
        (" 6 , 7 ", vec![6, 7], None),
        ("", vec![], None),
        ("  ", vec![], None),
    ] {
        let m = map_cuda_devices(Some(value), None, &t);
        let got: Vec<u32> = m.devices.iter().map(|d| d.nvml_index).collect();
        assert_eq!(got, visible, "CUDA_VISIBLE_DEVICES={value:?}");
        assert_eq!(
            m.stopped_at.as_deref(),
            stop,
            "CUDA_VISIBLE_DEVICES={value:?}"
        );
        let numbers: Vec<usize> = m.devices.iter().map(|d| d.cuda_index).collect();
        assert_eq!(numbers, (0..visible.len()).collect::<Vec<_>>());
    }
}

#[test]
fn mig_uuids_name_one_mig_device_of_their_gpu() {
    let t = table(H200_MIG);
    let m = map_cuda_devices(
        Some("MIG-1b0c9d8e-7f6a-5b4c-8d2e-3f2a1b0c9d8e,MIG-0a9b"),
        None,
        &t,
    );
    assert_eq!(pairs(&m), vec![(0, 0, Some(1)), (1, 0, Some(0))]);
    assert_eq!(
        m.devices[0].uuid,
        "MIG-1b0c9d8e-7f6a-5b4c-8d2e-3f2a1b0c9d8e"
    );
    assert_eq!(m.devices[0].pci_bus_id, "00000000:1B:00.0");
    // The same MIG device twice ends the list; two MIG devices of one GPU do not.
    let m = map_cuda_devices(Some("MIG-0a9b,MIG-0a9b8c7d"), None, &t);
    assert_eq!(pairs(&m), vec![(0, 0, Some(0))]);
    // The pre-R470 form names the GPU; the GPU without MIG by index.
    let m = map_cuda_devices(
        Some("MIG-GPU-9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0/1/0,1"),
        None,
        &t,
    );
    assert_eq!(pairs(&m), vec![(0, 0, None), (1, 1, None)]);
    // A GPU UUID never matches a MIG entry, nor a MIG UUID a GPU entry.
    let m = map_cuda_devices(Some("MIG-9f8e7d6c"), None, &t);
    assert!(m.devices.is_empty());
}

#[test]
fn pci_bus_ids_compare_whatever_the_spelling() {
    assert_eq!(
        parse_pci_bus_id("00000000:3B:00.0"),
        parse_pci_bus_id("0000:3b:00.0")
    );
    assert_eq!(parse_pci_bus_id("0001:81:1f.7"), Some((1, 0x81, 0x1f, 7)));
    for bad in [
        "",
        "3b:00.0",
        "0000:3b:00",
        "0000:zz:00.0",
        "0:0:0:0.0",
        "0000:3b:100.0",
    ] {
        assert_eq!(parse_pci_bus_id(bad), None, "{bad:?}");
    }
}
