from integrations.registry import ChannelConfig


class EchoConfig(ChannelConfig):
    default = True
    name = "tests.integrations.echo"
    label = "echo"
    url_prefix = "echo/"

    def connect(self) -> None:
        from governance.signals import receivers_connect
        from tests.integrations.echo import receivers

        receivers_connect(receivers.RECEIVERS)

    def disconnect(self) -> None:
        from governance.signals import receivers_disconnect
        from tests.integrations.echo import receivers

        receivers_disconnect(receivers.RECEIVERS)
