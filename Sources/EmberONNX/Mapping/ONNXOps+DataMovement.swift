import EmberIR
import EmberOps

extension ONNXOps {
    /// Every form of these ops from opset 13 on carries over: attributes that later became inputs
    /// (`axes`, `split`, `pads`) already were inputs by opset 13, and later additions (`allowzero`,
    /// `num_outputs`, Pad's `axes` and `wrap`, Resize's `axes` and `antialias`, Shape's `start` and
    /// `end`, scatter reductions) default to the older behaviour.
    static let dataMovement: [String: ONNXConverter] = [
        "Reshape": .direct(Reshape.self), "Flatten": .direct(Flatten.self), "Transpose": .direct(Transpose.self),
        "Squeeze": .direct(Squeeze.self), "Unsqueeze": .direct(Unsqueeze.self), "Identity": .direct(Identity.self),
        "Concat": .direct(Concat.self), "Split": .direct(Split.self), "Slice": .direct(SliceOp.self),
        "Expand": .direct(Expand.self), "Tile": .direct(Tile.self), "Pad": .direct(Pad.self),
        "Gather": .direct(Gather.self), "GatherElements": .direct(GatherElements.self),
        "GatherND": .direct(GatherND.self), "ScatterND": .direct(ScatterND.self),
        "ScatterElements": .direct(ScatterElements.self),
        "DepthToSpace": .direct(DepthToSpace.self), "SpaceToDepth": .direct(SpaceToDepth.self),
        "Resize": .direct(Resize.self),
        "Shape": .direct(Shape.self), "Size": .direct(Size.self), "Constant": .direct(Constant.self),
        "ConstantOfShape": .direct(ConstantOfShape.self), "Range": .direct(RangeOp.self),
        "EyeLike": .direct(EyeLike.self), "OneHot": .direct(OneHot.self), "Dropout": .direct(Dropout.self),
        "Trilu": .direct(Trilu.self), "NonZero": .direct(NonZero.self), "Compress": .direct(Compress.self),
        "ReverseSequence": .direct(ReverseSequence.self),
    ]
}
