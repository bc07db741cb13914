import EmberIR

/// Shape manipulation, indexing, padding, resizing and constants.
public enum DataMovementOps {
    public static let all: [any Operator.Type] = [
        Reshape.self, Flatten.self, Transpose.self, Squeeze.self, Unsqueeze.self, Identity.self,
        Concat.self, Split.self, SliceOp.self, Expand.self, Tile.self, Pad.self,
        Gather.self, GatherElements.self, GatherND.self, ScatterND.self, ScatterElements.self,
        DepthToSpace.self, SpaceToDepth.self, Resize.self,
        Shape.self, Size.self, Constant.self, ConstantOfShape.self, RangeOp.self, EyeLike.self, OneHot.self,
        Dropout.self, Trilu.self, NonZero.self, Compress.self, ReverseSequence.self,
    ]
}
