"""Translation between OCPP 1.6 and 2.0.1: mapped messages from `mappings/`, stateful ones in code."""
