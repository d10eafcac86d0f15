"""OCPP 1.5 and 1.6 over SOAP 1.2: the sans-I/O codec (safe XML, envelopes, payloads, faults).

codec        the public API: decode_request, encode_response, encode_request, decode_response, encode_fault
types        the WSDL type tables (ocpp15.json, ocpp16.json) as lookups: operations, service_of, namespaces
json_schema  JSON schemas of the payload dicts (how 1.5 payloads are validated)
xml_safe     hostile-XML-proof parsing and bounded Content-Encoding decompression
envelope     SOAP 1.2 Envelope, WS-Addressing and chargeBoxIdentity headers, fault envelopes
payload      payload elements <-> dicts, checked against the type tables
lexical      XSD simple values <-> JSON values
faults       SoapFault / FaultReceived and their mapping to OCPP-J error codes
media_type   the SOAP action in Content-Type and SOAPAction
"""
