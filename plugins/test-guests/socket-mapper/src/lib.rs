//! A test guest that reaches for the network: besides the attribute-mapper world it imports
//! `wasi:sockets/instance-network` (declared here with the shape WASI 0.2 gives it) and calls
//! it. The host must refuse the component at upload, naming the import, rather than run it
//! with a network it was never meant to have.

wit_bindgen::generate!({
    inline: r#"
        package test:socket-mapper;

        world socket-mapper {
            include gatehouse:plugin/attribute-mapper@0.1.0;
            import wasi:sockets/instance-network@0.2.0;
        }

        package wasi:sockets@0.2.0 {
            interface network {
                resource network;
            }
            interface instance-network {
                use network.{network};
                instance-network: func() -> network;
            }
        }
    "#,
    path: "../../../wit",
    world: "socket-mapper",
    generate_all,
});

use exports::gatehouse::plugin::attributes::Guest;
use gatehouse::plugin::types::{Identity, PluginError, Profile};

struct Socket;

impl Guest for Socket {
    fn map_profile(identity: Identity) -> Result<Profile, PluginError> {
        let network = wasi::sockets::instance_network::instance_network();
        drop(network);
        Err(PluginError::Rejected(format!(
            "{}: this mapper was handed a network",
            identity.subject
        )))
    }
}

export!(Socket);
