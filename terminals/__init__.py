"""Browser terminals: named PTYs bridged to websockets that survive reconnects."""
