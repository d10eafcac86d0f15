"""ocpp-gateway: OCPP 1.5/1.6 SOAP and OCPP-J 1.6/2.0.1 chargers behind one OCPP-J CSMS."""

__version__ = "0.1.0"
