"""The hfchat GPT, registered with transformers' Auto classes on import."""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .configuration_hfchat import HFChatConfig
from .modeling_hfchat import CACHE_NAME, SMEAR_STATE, HFChatForCausalLM, HFChatModel, HFChatPreTrainedModel

AutoConfig.register(HFChatConfig.model_type, HFChatConfig, exist_ok=True)
AutoModel.register(HFChatConfig, HFChatModel, exist_ok=True)
AutoModelForCausalLM.register(HFChatConfig, HFChatForCausalLM, exist_ok=True)
# So that save_pretrained copies the code beside the weights (config.json's auto_map is filled by the config).
HFChatConfig.register_for_auto_class()
HFChatModel.register_for_auto_class("AutoModel")
HFChatForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = ["CACHE_NAME", "SMEAR_STATE", "HFChatConfig", "HFChatModel", "HFChatForCausalLM", "HFChatPreTrainedModel"]
