"""The zoo's entries. Each `small` build runs the same code as `full` at tiny widths, depths and
resolutions; transformers models are built from Config objects, timm ones with pretrained=False."""
from __future__ import annotations

import torch
from torch import nn

from . import Entry

ZOO: dict[str, Entry] = {}


def add(entry: Entry) -> None:
    if entry.name in ZOO:
        raise ValueError(f"zoo model {entry.name!r} defined twice")
    ZOO[entry.name] = entry


# ---------------------------------------------------------------- images

def images(full_side: int, small_side: int, channels: int = 3):
    def make(size: str, batch: int) -> tuple[torch.Tensor, ...]:
        side = full_side if size == "full" else small_side
        g = torch.Generator().manual_seed(batch)
        return (torch.randn(batch, channels, side, side, generator=g),)
    return make


def vision(name, family, full, small, full_side=224, small_side=32, outputs=("logits",), **extra):
    add(Entry(name, family, lambda size: full() if size == "full" else small(), images(full_side, small_side),
              ["image"], list(outputs), **extra))


class Outputs(nn.Module):
    """Unwraps a model whose forward returns a dict (torchvision's segmentation and FPN models) into
    a tuple of tensors, in `keys` order (all keys when None)."""

    def __init__(self, model: nn.Module, keys=None):
        super().__init__()
        self.model, self.keys = model, keys

    def forward(self, x):
        out = self.model(x)
        return tuple(out[k] for k in (self.keys or out.keys()))


def tv(name, **kwargs):
    import torchvision
    return lambda: getattr(torchvision.models, name)(weights=None, **kwargs)


def timm_model(name, **kwargs):
    import timm
    return lambda: timm.create_model(name, pretrained=False, **kwargs)


def randomized_head(build, path):
    """torchvision's ViTs start their classifier at zero, which makes every logit 0 and the error
    check empty: give the head small random weights."""
    def make():
        model = build()
        head = model.get_submodule(path)
        with torch.no_grad():
            head.weight.normal_(0, 0.02)
            head.bias.normal_(0, 0.02)
        return model
    return make


def _small_resnet(block, **kwargs):
    from torchvision.models.resnet import ResNet
    return lambda: ResNet(block, [1, 1, 1, 1], num_classes=10, **kwargs)


def _register_vision():
    import torchvision.models as tvm
    from torchvision.models import resnet, regnet, convnext, densenet, vgg, swin_transformer, vision_transformer

    vision("resnet18", "cnn", tv("resnet18"), _small_resnet(resnet.BasicBlock))
    vision("resnet50", "cnn", tv("resnet50"), _small_resnet(resnet.Bottleneck))
    vision("resnext50_32x4d", "cnn", tv("resnext50_32x4d"), _small_resnet(resnet.Bottleneck, groups=8, width_per_group=4))
    vision("regnet_y_400mf", "cnn", tv("regnet_y_400mf"), lambda: regnet.RegNet(
        regnet.BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, group_width=8, se_ratio=0.25),
        stem_width=8, num_classes=10))
    vision("mobilenet_v2", "cnn", tv("mobilenet_v2"), tv("mobilenet_v2", width_mult=0.25, num_classes=10))
    vision("mobilenet_v3_large", "cnn", tv("mobilenet_v3_large"), tv("mobilenet_v3_large", width_mult=0.25, num_classes=10))
    vision("mobilenet_v3_small", "cnn", tv("mobilenet_v3_small"), tv("mobilenet_v3_small", width_mult=0.25, num_classes=10))
    vision("efficientnet_b0", "cnn", tv("efficientnet_b0"), tv("efficientnet_b0", num_classes=10))
    vision("convnext_tiny", "cnn", tv("convnext_tiny"), lambda: convnext.ConvNeXt(
        [convnext.CNBlockConfig(16, 32, 1), convnext.CNBlockConfig(32, None, 1)], num_classes=10))
    vision("densenet121", "cnn", tv("densenet121"), lambda: densenet.DenseNet(
        growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, num_classes=10))
    vision("squeezenet1_1", "cnn", tv("squeezenet1_1"), tv("squeezenet1_1", num_classes=10), small_side=64)
    vision("shufflenet_v2_x1_0", "cnn", tv("shufflenet_v2_x1_0"), tv("shufflenet_v2_x0_5", num_classes=10))
    vision("googlenet", "cnn", tv("googlenet", aux_logits=False, init_weights=True),
           tv("googlenet", aux_logits=False, init_weights=True, num_classes=10), small_side=64)
    vision("inception_v3", "cnn", tv("inception_v3", aux_logits=False, init_weights=True),
           tv("inception_v3", aux_logits=False, init_weights=True, num_classes=10), full_side=299, small_side=75)
    vision("mnasnet1_0", "cnn", tv("mnasnet1_0"), tv("mnasnet0_5", num_classes=10))

    def small_vgg():
        model = vgg.VGG(vgg.make_layers([16, "M", 32, "M"], batch_norm=True), num_classes=10)
        model.classifier = nn.Sequential(nn.Linear(32 * 7 * 7, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, 10))
        return model
    vision("vgg11_bn", "cnn", tv("vgg11_bn"), small_vgg)

    # Vision transformers and hybrids.
    vision("vit_b_16", "vit", randomized_head(tv("vit_b_16"), "heads.head"), randomized_head(
        lambda: vision_transformer.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                     hidden_dim=32, mlp_dim=64, num_classes=10), "heads.head"))
    vision("deit_small", "vit", timm_model("deit_small_patch16_224"), timm_model(
        "deit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10))
    vision("swin_t", "vit", tv("swin_t"), lambda: swin_transformer.SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=[4, 4], num_classes=10))
    vision("convit_tiny", "vit-hybrid", timm_model("convit_tiny"), timm_model(
        "convit_tiny", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, local_up_to_layer=1,
        num_classes=10))
    vision("mobilevit_xxs", "vit-hybrid", timm_model("mobilevit_xxs"), timm_model("mobilevit_xxs", num_classes=10),
           full_side=256, small_side=64)
    vision("levit_128s", "vit-hybrid", timm_model("levit_128s"), timm_model("levit_128s", img_size=64, num_classes=10),
           small_side=64)

    # Dense prediction: segmentation heads and a detector's backbone with its feature pyramid.
    seg = dict(weights=None, weights_backbone=None)
    vision("deeplabv3_mobilenet_v3", "segmentation",
           lambda: Outputs(tvm.segmentation.deeplabv3_mobilenet_v3_large(**seg), ["out"]),
           lambda: Outputs(tvm.segmentation.deeplabv3_mobilenet_v3_large(num_classes=4, **seg), ["out"]),
           small_side=64, outputs=["out"])
    vision("fcn_resnet50", "segmentation", lambda: Outputs(tvm.segmentation.fcn_resnet50(**seg), ["out"]),
           lambda: Outputs(tvm.segmentation.fcn_resnet50(num_classes=4, **seg), ["out"]), outputs=["out"])
    vision("lraspp_mobilenet_v3", "segmentation",
           lambda: Outputs(tvm.segmentation.lraspp_mobilenet_v3_large(**seg), ["out"]),
           lambda: Outputs(tvm.segmentation.lraspp_mobilenet_v3_large(num_classes=4, **seg), ["out"]),
           small_side=64, outputs=["out"])

    def fpn(backbone):
        from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
        return lambda: Outputs(resnet_fpn_backbone(backbone_name=backbone, weights=None, trainable_layers=5))
    vision("resnet50_fpn", "detection", fpn("resnet50"), fpn("resnet18"), full_side=320, small_side=64,
           outputs=["p2", "p3", "p4", "p5", "pool"])


# ---------------------------------------------------------------- text

FULL_SEQ, SMALL_SEQ = 128, 16
SMALL_VOCAB = 512


def tokens(vocab_full: int, vocab_small: int = SMALL_VOCAB, mask: bool = True, first: int = 0):
    """Token ids (from `first` up, to keep clear of special ids) and, with `mask`, an attention
    mask padding the last quarter of every sequence but the first."""
    def make(size: str, batch: int) -> tuple[torch.Tensor, ...]:
        seq, vocab = (FULL_SEQ, vocab_full) if size == "full" else (SMALL_SEQ, vocab_small)
        g = torch.Generator().manual_seed(batch)
        ids = torch.randint(first, vocab, (batch, seq), generator=g)
        if not mask:
            return (ids,)
        attention = torch.ones(batch, seq, dtype=torch.int64)
        if batch > 1:
            attention[1:, seq - seq // 4:] = 0
        return ids, attention
    return make


class HFOutputs(nn.Module):
    """A transformers model called with one keyword input, returning plain tensors (`keys` of its
    output). The forward names its parameters (no `*args`) so torch.export sees one input per tensor."""

    def __init__(self, model: nn.Module, arg_names, keys=("last_hidden_state",)):
        super().__init__()
        self.model, self.arg_names, self.keys = model, list(arg_names), list(keys)

    def forward(self, x):
        out = self.model(**{self.arg_names[0]: x})
        return tuple(out[k] for k in self.keys)


class HFOutputs2(HFOutputs):
    """`HFOutputs` for a model called with two keyword inputs (token ids and an attention mask)."""

    def forward(self, x, y):
        out = self.model(**dict(zip(self.arg_names, (x, y))))
        return tuple(out[k] for k in self.keys)


def hf(name, family, model_class, full_config, small_config, vocab_full, inputs=None,
       input_names=("input_ids", "attention_mask"), keys=("last_hidden_state",), **extra):
    """An entry for a transformers model built from a config (`attn_implementation="eager"`,
    which both exporters trace)."""
    def build(size):
        import transformers
        cls = getattr(transformers, model_class)
        config_class, kwargs = full_config if size == "full" else small_config
        config = getattr(transformers, config_class)(**kwargs)
        config._attn_implementation = "eager"
        return (HFOutputs2 if len(input_names) == 2 else HFOutputs)(cls(config), input_names, keys)
    add(Entry(name, family, build, inputs or tokens(vocab_full), list(input_names), list(keys), **extra))


def small(**kwargs):
    """Tiny transformer widths shared by the small text configs."""
    return dict(dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     vocab_size=SMALL_VOCAB), **kwargs)


def _register_text():
    # Encoders.
    hf("bert", "encoder", "BertModel", ("BertConfig", {}), ("BertConfig", small()), 30522,
       keys=("last_hidden_state", "pooler_output"))
    hf("roberta", "encoder", "RobertaModel", ("RobertaConfig", dict(max_position_embeddings=514)),
       ("RobertaConfig", small(max_position_embeddings=64)), 50265, inputs=tokens(50265, first=3))
    hf("distilbert", "encoder", "DistilBertModel", ("DistilBertConfig", {}),
       ("DistilBertConfig", dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64, vocab_size=SMALL_VOCAB)), 30522)
    deberta = dict(relative_attention=True, position_buckets=256, pos_att_type=["p2c", "c2p"],
                   norm_rel_ebd="layer_norm", share_att_key=True, max_relative_positions=-1, position_biased_input=False)
    hf("deberta_v2", "encoder", "DebertaV2Model", ("DebertaV2Config", dict(deberta, vocab_size=128100)),
       ("DebertaV2Config", small(**dict(deberta, position_buckets=16))), 128100)
    hf("t5_encoder", "encoder", "T5EncoderModel", ("T5Config", dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12,
                                                                   num_heads=12)),
       ("T5Config", dict(d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2, vocab_size=SMALL_VOCAB)), 32128)
    hf("albert", "encoder", "AlbertModel", ("AlbertConfig", dict(hidden_size=768, num_attention_heads=12,
                                                                intermediate_size=3072)),
       ("AlbertConfig", small(embedding_size=16)), 30000, keys=("last_hidden_state", "pooler_output"))
    hf("electra", "encoder", "ElectraModel", ("ElectraConfig", dict(embedding_size=768, hidden_size=768,
                                                                   num_attention_heads=12, intermediate_size=3072)),
       ("ElectraConfig", small(embedding_size=16)), 30522)

    # Decoders at a fixed length: 12 layers of width 768 at full size, causal attention over a
    # right-padded batch.
    decoder = dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12)
    tiny = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                vocab_size=SMALL_VOCAB)
    hf("gpt2", "decoder", "GPT2Model", ("GPT2Config", {}),
       ("GPT2Config", dict(n_embd=32, n_layer=2, n_head=2, vocab_size=SMALL_VOCAB, bos_token_id=0, eos_token_id=0)), 50257)
    hf("llama", "decoder", "LlamaModel", ("LlamaConfig", dict(decoder, num_key_value_heads=4)),
       ("LlamaConfig", dict(tiny, num_key_value_heads=2)), 32000)
    hf("qwen2", "decoder", "Qwen2Model", ("Qwen2Config", dict(decoder, num_key_value_heads=2, vocab_size=32000)),
       ("Qwen2Config", dict(tiny, num_key_value_heads=2)), 32000)
    hf("mistral", "decoder", "MistralModel", ("MistralConfig", dict(decoder, num_key_value_heads=4)),
       ("MistralConfig", dict(tiny, num_key_value_heads=2)), 32000)
    hf("phi", "decoder", "PhiModel", ("PhiConfig", dict(decoder, intermediate_size=3072, vocab_size=51200)),
       ("PhiConfig", dict(tiny)), 51200)
    hf("opt", "decoder", "OPTModel", ("OPTConfig", {}),
       ("OPTConfig", dict(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=2,
                          word_embed_proj_dim=32, vocab_size=SMALL_VOCAB)), 50272, inputs=tokens(50272, first=3))


# ---------------------------------------------------------------- speech

def _register_speech():
    def features(mels_full, frames_full, mels_small, frames_small):
        def make(size, batch):
            g = torch.Generator().manual_seed(batch)
            shape = (batch, mels_full, frames_full) if size == "full" else (batch, mels_small, frames_small)
            return (torch.randn(*shape, generator=g),)
        return make

    def whisper(size):
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoder
        if size == "full":  # whisper-base's encoder on 30 s of audio
            config = WhisperConfig(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048,
                                   num_mel_bins=80, max_source_positions=1500)
        else:
            config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                                   num_mel_bins=8, max_source_positions=16)
        config._attn_implementation = "eager"
        return HFOutputs(WhisperEncoder(config), ["input_features"])
    add(Entry("whisper_encoder", "speech", whisper, features(80, 3000, 8, 32), ["input_features"],
              ["last_hidden_state"]))

    def wav2vec2(size):
        from transformers import Wav2Vec2Config, Wav2Vec2Model
        if size == "full":  # wav2vec2-base
            config = Wav2Vec2Config()
        else:
            config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2),
                                    num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
        config._attn_implementation = "eager"
        return HFOutputs(Wav2Vec2Model(config), ["input_values"])

    def audio(size, batch):
        g = torch.Generator().manual_seed(batch)
        return (torch.randn(batch, 16000 if size == "full" else 400, generator=g),)
    add(Entry("wav2vec2", "speech", wav2vec2, audio, ["input_values"], ["last_hidden_state"]))


_register_vision()
_register_text()
_register_speech()
