"""Gauge-equivariant layers. Every layer has ``in_type`` / ``out_type`` and checks its input."""

from gaugemesh.nn.chain import check_chain
from gaugemesh.nn.conv import GemConv
from gaugemesh.nn.dropout import FieldDropout
from gaugemesh.nn.conv_terms import ConvTerms, neighbour_frequencies
from gaugemesh.nn.kernel import NeighbourKernel
from gaugemesh.nn.linear import Linear
from gaugemesh.nn.nonlinearity import GatedNonlinearity, NormNonlinearity, RegularNonlinearity, make_nonlinearity
from gaugemesh.nn.norm import BatchNorm
from gaugemesh.nn.conv_operators import ConvOperators, EdgeOperator, OperatorCache
from gaugemesh.nn.readout import InvariantReadout
from gaugemesh.nn.pool import ParallelTransportPool, ParallelTransportUnpool
from gaugemesh.nn.o2_conv import O2ConvOperators, O2GemConv
from gaugemesh.nn.o2_layers import O2BatchNorm, O2InvariantReadout, O2NormNonlinearity
from gaugemesh.nn.o2_linear import O2Linear
from gaugemesh.nn.o2_pool import O2ParallelTransportPool, O2ParallelTransportUnpool

__all__ = [
    "BatchNorm",
    "ConvOperators",
    "ConvTerms",
    "EdgeOperator",
    "FieldDropout",
    "GatedNonlinearity",
    "GemConv",
    "OperatorCache",
    "InvariantReadout",
    "Linear",
    "NeighbourKernel",
    "NormNonlinearity",
    "O2BatchNorm",
    "O2ConvOperators",
    "O2GemConv",
    "O2InvariantReadout",
    "O2Linear",
    "O2NormNonlinearity",
    "O2ParallelTransportPool",
    "O2ParallelTransportUnpool",
    "ParallelTransportPool",
    "ParallelTransportUnpool",
    "RegularNonlinearity",
    "check_chain",
    "make_nonlinearity",
    "neighbour_frequencies",
]
