//! The one `bindgen!` of the plugin contract. A host-side world imports the capabilities and
//! exports every plugin interface, so each component's exports are looked up per interface
//! (a component implements one world, i.e. one of these exports).

wasmtime::component::bindgen!({
    path: "../wit",
    inline: "
        package gatehouse:host;
        world host {
            import gatehouse:plugin/log@0.1.0;
            import gatehouse:plugin/config@0.1.0;
            export gatehouse:plugin/adapter@0.1.0;
            export gatehouse:plugin/attributes@0.1.0;
            export gatehouse:plugin/roles@0.1.0;
            export gatehouse:plugin/scim@0.1.0;
        }
    ",
    world: "gatehouse:host/host",
    additional_derives: [PartialEq, Eq],
});

pub use gatehouse::plugin::types;
