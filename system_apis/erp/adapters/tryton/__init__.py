"""The Tryton adapter of the ERP port: canonical models in, canonical models out.

Tryton's shapes (ids, states, dotted reads, one2many actions) stay in this package, one
module per concern: ``catalogue`` (products, prices, stock), ``parties`` (customers and
their addresses), ``sales`` (sales orders), ``documents`` (shipments, invoices, credit
notes), ``shipping`` (recording shipments that left from elsewhere), with ``adapter`` as the
port's facade. Each operation uses as few JSON-RPC calls as
it can: SKU, warehouse, currency and country ids are cached, independent reads run
concurrently, and one login session serves every call.
"""

from system_apis.erp.adapters.tryton.adapter import TrytonAdapter
from system_apis.erp.adapters.tryton_settings import TrytonSettings

__all__ = ["TrytonAdapter", "TrytonSettings"]
