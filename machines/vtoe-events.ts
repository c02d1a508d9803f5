/**
 * The events the VTOE NIC's event queue carries to the guest (dissertation §4.6.3), shared by the
 * machines that raise, queue or consume them (connection agent, VTOE NIC, guest socket). A name
 * list, not a machine: it has no catalog entry.
 */
export const VTOE_EVENTS = [
  'CONNECT_REQUEST',
  'CONNECT_RESPONSE',
  'ADDRESS_RESOLVED',
  'ROUTE_RESOLVED',
  'ADDRESS_ERROR',
  'ROUTE_ERROR',
  'CONNECT_ERROR',
  'UNREACHABLE',
  'CONNECT_REJECTED',
  'CONNECT_ESTABLISHED',
  'DISCONNECTED',
  'DEVICE_REMOVAL',
] as const;

export type VtoeEventName = (typeof VTOE_EVENTS)[number];
